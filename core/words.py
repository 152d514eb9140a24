"""Plain words for the names tunesmith uses inside: filter reason codes, generation strategies and model
sizes. The app and the CLI say the words first; the name itself stays available (in
brackets, dim, or on demand) for whoever wants to look it up.

    reason("eval_leak")        -> "too close to a held-out test question"
    strategy("few_shot")       -> "written from a few real examples"
    parameters(1.5)            -> "about 1.5 billion parameters"
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "wrong_format": "not in the training format",
    "wrong_keys": "has the wrong fields",
    "not_conversational": "not written as a conversation",
    "bad_message": "a malformed chat message",
    "empty_content": "an empty message",
    "bad_roles": "turns in the wrong order",
    "bad_label": "no good/bad label",
    "identical_pair": "the better and worse answers are the same",
    "template_error": "the model's chat format cannot show it",
    "template_mismatch": "the model's chat format cannot show it",
    "too_short": "too short",
    "too_long": "too long",
    "missing_input": "no question",
    "missing_response": "no answer",
    "missing_rejected": "no worse answer to compare with",
    "missing_reference": "no reference answer",
    "ends_mid_sentence": "stops mid-sentence",
    "missing_template_steps": "skips steps of the answer template",
    "placeholder": "left a placeholder such as [insert …]",
    "boilerplate": "filler such as 'As an AI…'",
    "repetitive": "repeats itself",
    "truncated": "cut off",
    "garbage": "not readable text",
    "toxic": "offensive or harmful wording",
    "prohibited_topic": "goes into a forbidden topic",
    "inappropriate_for_audience": "not right for the audience",
    "eval_leak": "too close to a held-out test question",
    "refusal_missing": "should have declined, but did not",
    "unexpected_refusal": "declined a request it should answer",
    "out_of_scope_content": "strays outside what the model will do",
    "violates_never": "does something on the will-not list",
    "low_empathy": "not warm enough",
    "low_framework_adherence": "does not follow the framework",
    "code_error": "its code does not run",
    "code_timeout": "its code runs too long",
    "code_network": "its code needs the internet",
    "factual_error": "gets a fact wrong",
    "near_duplicate": "almost the same as another example",
    "rejected": "rejected",
}

STRATEGIES: dict[str, str] = {
    "few_shot": "written from a few real examples",
    "template": "filled into templates",
    "contrastive": "good and bad answers side by side",
    "cot": "reasoning written out step by step",
    "auto": "chosen for the task",
    # how a DPO pair's worse answer was made
    "weak_model": "a weaker model's answer",
    "truncated": "a cut-short answer",
    "off_topic": "an answer that misses the point",
    "verbose": "a padded, wordy answer",
    "tone_mismatch": "an answer in the wrong tone",
}

def _plain(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def reason(code: str) -> str:
    """A filter's reason code in words (an unknown code with its underscores read as spaces)."""
    return REASONS.get(code, _plain(code))


def reason_with_code(code: str) -> str:
    """'too close to a held-out test question (eval_leak)': the words, then the code to look up."""
    words = reason(code)
    return words if words == _plain(code) else f"{words} ({code})"


def strategy(name: str) -> str:
    return STRATEGIES.get(name, _plain(name))


def strategy_with_name(name: str) -> str:
    """'written from a few real examples (few_shot)'; a name without words is said once."""
    said = strategy(name)
    return said if said == _plain(name) else f"{said} ({name})"


def parameters(billions: float | None) -> str:
    """A model's size in words: 'about 1.5 billion parameters', 'about 135 million', 'about 34 thousand'."""
    if billions is None or billions <= 0:
        return "size unknown"
    n = billions * 1e9
    for scale, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if n >= scale:
            value = n / scale
            shown = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
            return f"about {shown} {word} parameters"
    return f"{n:.0f} parameters"
