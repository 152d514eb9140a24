"""The scale-up's projection from measured rates (the running scale-up's, an earlier scale-up's), its live
remaining time, and the estimate kept against the actual in the generation report."""

from __future__ import annotations

import pytest

from core.generate import dataset as ds
from core.generate import pipeline as pl
from core.generate import pipeline_scale as sc
from core.generate import pipeline_state as ps
from core.generate import report as rp
from core.generate.pipeline_common import GenerationProgress
from core.generate.pipeline_projection import measured_projection
from core.models.data import GenerationReport
from core.project import Project
from tests.test_generate_pipeline import fast_embeddings, gateway, project  # noqa: F401 - fixtures


def test_measured_projection_follows_the_run() -> None:
    # 3,248 generated for 1,000 kept: a 31% pass rate, not the pilot's 54% (1,852 projected)
    total, left = measured_projection(target=1000, kept=300, checked=974, seconds=146.1, prior_rate=0.54)
    assert total == pytest.approx(3248, abs=3)
    assert left == pytest.approx((total - 974) * 0.15, rel=0.01)
    total, left = measured_projection(target=1000, kept=10, checked=20, seconds=5.0, prior_rate=0.54)
    assert total == 20 + 1834 and left == pytest.approx(1834 * 0.25)  # too few checked: the prior rate
    assert measured_projection(1000, 0, 0, 0.0) == (0, None)


def test_progress_line_says_the_time_left() -> None:
    event = GenerationProgress(phase="scale", done=974, kept=300, target=1000, remaining_s=340.0,
                               projected_generated=3248)
    line = event.line()
    assert line.startswith("scale: 300/1000 kept · 974 checked")
    assert "~3,248 to generate in all · about 6 min left" in line


def test_projection_from_measured_rates(fake_llm, project: Project) -> None:  # noqa: F811
    from tests.fakes.generate_replies import install

    install(fake_llm)
    pl.run_pilot(project, gateway(project))
    pilot = sc.projection(project, target=1000)
    assert "rates measured on the pilot" in pilot.describe()
    # a finished scale-up kept 1,000 of 3,248 in 480 s: a fresh scale-up plans with its rates
    rp.update_summary(project, scale=GenerationReport(phase="scale", strategy="x", training_method="sft",
                                                      requested=1000, generated=3248, kept=1000,
                                                      pass_rate=0.3079, seconds=480.0, requests=812))
    again = sc.projection(project, target=1000, fresh=True)
    assert again.basis == "the previous scale-up" and again.pass_rate == pytest.approx(0.3079)
    assert again.examples_needed == pytest.approx(3248, abs=2)
    assert again.seconds == pytest.approx(480.0 / 3248 * again.examples_needed, rel=0.01)
    assert again.requests == pytest.approx(812 / 3248 * again.examples_needed, abs=1)
    # a running scale-up with enough checked: its own pass rate and pace
    state = ps.ScaleState(target=1000, kept=100, checked=200, seconds=100.0, requests=40, cache_hits=10)
    project.write(ps.SCALE_STATE, state)
    live = sc.projection(project)
    assert live.basis == "this scale-up so far" and live.examples_needed == 1800
    assert live.seconds == pytest.approx(900.0) and live.requests == 450  # 50 requests per 200 checked
    assert "rates measured on this scale-up so far" in live.describe()


def test_report_keeps_the_estimate_against_the_actual(project: Project) -> None:  # noqa: F811
    state = ps.ScaleState(target=1000, kept=1000, checked=3248, seconds=480.0, requests=400, cache_hits=6,
                          projected_generated=1852, projected_requests=230, projected_seconds=240.0)
    r = ds.scale_report(project, state, 1000)
    assert (r.estimated_generated, r.generated) == (1852, 3248)
    assert (r.estimated_requests, r.requests) == (230, 406)
    assert (r.estimated_seconds, r.seconds) == (240.0, 480.0)
