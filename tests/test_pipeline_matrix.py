"""Every preset × every training method × framework mode on and off, against an unscripted model.

Issue 11: on a domain the tests do not use, with a model nobody scripted (schema-valid nonsense), the
pipeline dead-ended (the pilot kept nothing, refusals vanished at scale-up). Here each of the 56
combinations must reach a validated dataset with the planned mix (every quota cell within one row of its
quota), a trained tiny model, an evaluation against its untrained base, a recorded decision and every
export, with no hand edits. Groups (a preset with framework mode on or off) run in two worker processes;
each group shares its knowledge stage across the four methods (tests/e2e/matrix.py).
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pytest

from core.models.presets import PRESETS

EXPORTS = {
    "knowledge_base.json", "scope_boundaries.json", "eval_set.json", "input_taxonomy.json",
    "quality_criteria.json", "generation_report.json", "quality_log.json", "dataset_card.md",
    "evaluation_report.md", "deployment_decision.json", "detailed_results.json", "comparison_analysis.json",
    "spot_check_worksheet.md",
}


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Future]:
    from tests.e2e.matrix import run_group
    from tests.fakes.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("matrix")
    tiny = str(build_tiny_model(root / "tiny"))
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
    futures = {(preset, fw): pool.submit(run_group, str(root), preset, fw, tiny)
               for preset in PRESETS for fw in (False, True)}
    yield futures
    pool.shutdown(wait=False, cancel_futures=True)


def _check(result: dict, method: str) -> list[str]:
    res = result["methods"].get(method)
    if res is None:
        return [f"{method}: not run ({result.get('error', '')[:2000]})"]
    if "error" in res:
        return [f"{method}: {res['error']}\n{res.get('log', '')}"]
    problems = []
    quotas, cells = res["quotas"], res["cells"]
    if sum(quotas.values()) != 40:
        problems.append(f"{method}: the plan has {sum(quotas.values())} examples, not 40")
    off = {k: (cells.get(k, 0), q) for k, q in quotas.items() if abs(cells.get(k, 0) - q) > 1}
    if off:
        problems.append(f"{method}: cells off their quota (kept, planned): {off}")
    refusals = sum(n for k, n in cells.items() if k.startswith("refusal|"))
    if refusals < sum(q for k, q in quotas.items() if k.startswith("refusal|")) - 1:
        problems.append(f"{method}: refusals lost: {refusals}")
    for what in ("validated", "model", "decision"):
        if not res.get(what):
            problems.append(f"{method}: no {what}")
    missing = EXPORTS - set(res.get("exports", []))
    if missing:
        problems.append(f"{method}: exports missing: {sorted(missing)}")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("framework", [False, True], ids=["framework-off", "framework-on"])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_method_reaches_a_decision_with_the_planned_mix(groups, preset: str, framework: bool) -> None:
    result = groups[(preset, framework)].result(timeout=1500)
    assert "error" not in result, result["error"]
    assert result["template"] == framework, "framework mode decides whether responses follow a template"
    problems = [p for method in ("sft", "dpo", "grpo", "kto") for p in _check(result, method)]
    assert not problems, "\n".join(problems)
