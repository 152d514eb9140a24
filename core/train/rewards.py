"""GRPO reward functions, for the evaluator and tests.

They are defined in the runner (core/train/runner.py), which must stay self-contained to run on HF Jobs;
this module re-exports them. Each takes TRL's reward-function arguments (``completions`` plus the dataset's
extra columns as keyword arguments: ``reference``, ``should_refuse``, ...) and returns one score in [0, 1]
per completion, or None where the row carries no signal for that reward (TRL then ignores it).

    format              well-formed answer: not empty, no chat-template tokens or role prefixes leaking,
                        ends like a finished sentence, not a wall of repeated words
    refusal             1 when the answer refuses exactly when ``should_refuse`` says it should
    reference_overlap   word-level F1 against ``reference``
"""

from core.train.runner import (
    DEFAULT_REWARDS,
    REFUSAL_MARKERS,
    REWARD_FUNCTIONS,
    completion_text,
    format_reward,
    is_refusal,
    reference_overlap_reward,
    refusal_reward,
)

__all__ = [
    "DEFAULT_REWARDS",
    "REFUSAL_MARKERS",
    "REWARD_FUNCTIONS",
    "completion_text",
    "format_reward",
    "is_refusal",
    "reference_overlap_reward",
    "refusal_reward",
]
