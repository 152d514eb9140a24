"""Plain words for inside names (core/words.py): every filter reason code has words, sizes read as people
say them, and the app's screens show the words first."""

from __future__ import annotations

from core import words
from core.generate.filters.chain import REASON_CODES
from core.models.data import REJECTED_STRATEGIES


def test_every_reason_code_and_strategy_has_words() -> None:
    codes = {c for cs in REASON_CODES.values() for c in cs}
    assert codes <= set(words.REASONS)
    assert all("_" not in words.reason(c) for c in codes)
    assert set(REJECTED_STRATEGIES) <= set(words.STRATEGIES)
    assert {"few_shot", "template", "contrastive", "cot", "auto"} <= set(words.STRATEGIES)


def test_an_unknown_code_reads_as_words_and_the_code_stays_available() -> None:
    assert words.reason("some_new_code") == "some new code"
    assert words.reason_with_code("eval_leak") == "too close to a held-out test question (eval_leak)"
    assert words.reason_with_code("some_new_code") == "some new code"


def test_parameters_in_words() -> None:
    assert words.parameters(0.000134) == "about 134 thousand parameters"
    assert words.parameters(0.135) == "about 135 million parameters"
    assert words.parameters(1.5) == "about 1.5 billion parameters"
    assert words.parameters(7.0) == "about 7 billion parameters"
    assert words.parameters(70.6) == "about 71 billion parameters"
    assert words.parameters(None) == "size unknown"


def test_the_generation_report_says_reasons_in_words() -> None:
    from rich.console import Console

    from core.models.data import GenerationReport
    from screens.generation_view import finished_text, report_view

    report = GenerationReport(phase="pilot", strategy="few_shot", training_method="sft", requested=10,
                              generated=12, kept=9, pass_rate=0.75,
                              rejections_by_reason={"eval_leak": 2, "violates_never": 1})
    console = Console(width=160, record=True)
    console.print(report_view(report))
    shown = console.export_text()
    assert "too close to a held-out test question" in shown and "does something on the will-not list" in shown
    assert "written from a few real examples" in shown
    assert "too close to a held-out test question 2" in finished_text(report)
