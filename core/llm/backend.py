"""litellm, imported lazily and quietly, and what its failures mean for the user."""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from core.llm.settings import ModelChoice, key_env_for

_litellm: Any = None


def load_litellm() -> Any:
    """Import litellm once, offline and quiet (no cost-map fetch, no telemetry, no debug banners)."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.drop_params = True  # a provider that lacks e.g. seed ignores it instead of failing
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)
        # litellm leaves ~400k long-lived objects (its model catalogue) that every full collection
        # would walk (a ~0.2 s pause, several times a minute under load): move them out of the GC's sight.
        gc.collect()
        gc.freeze()
        _litellm = litellm
    return _litellm


def hint_for(status: int | None, message: str, choice: ModelChoice) -> str:
    """One line saying what to fix after a failed call ("" when there is nothing specific)."""
    low = message.lower()
    if status in (401, 403) or "credential" in low or "api key" in low or "api_key" in low:
        return f"the provider rejected the credentials: set {key_env_for(choice.model)} to a valid key"
    if status == 404:
        return f"model {choice.model!r} was not found: check TUNESMITH_MODEL / [models] in project.toml"
    if "timeout" in low or "timed out" in low:
        return f"{choice.model} did not answer in time: check the server's load or raise the timeout"
    if "connect" in low:
        where = choice.api_base or "the provider"
        return f"cannot reach {where}: check TUNESMITH_API_BASE and that the server is running"
    if status == 429:
        return "the provider is rate limiting: lower max_concurrency or wait and resume"
    return ""


class Pricing:
    """Dollar costs from litellm's price list; a model it has no prices for costs 0 (and is listed)."""

    def __init__(self) -> None:
        self.unpriced: set[str] = set()
        self._priced: set[str] = set()

    def prepare(self, model: str) -> None:
        """Give a model litellm cannot price zero prices, once: litellm then stops repeating a slow,
        failing price lookup on every call (the cost is unknown either way and counted as 0)."""
        if model in self._priced or model in self.unpriced:
            return
        litellm = load_litellm()
        try:
            litellm.get_model_info(model=model)
            self._priced.add(model)
            return
        except Exception:  # litellm raises several types for "not in the price list"
            self.unpriced.add(model)
        try:
            litellm.register_model(
                {model: {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "chat",
                         "litellm_provider": ModelChoice(model).provider}},
                add_to_provider_model_sets=False,
            )
        except Exception:  # an optimisation only, never a reason to fail a call
            pass

    def cost(self, response: Any, model: str) -> float:
        """What one response cost (litellm has usually computed it already)."""
        if model in self.unpriced:
            return 0.0
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        if cost is not None:
            return float(cost)
        try:
            return float(load_litellm().completion_cost(completion_response=response, model=model) or 0.0)
        except Exception:
            return 0.0

    def projected(self, model: str, n_calls: int, prompt_tokens: int, completion_tokens: int) -> float:
        """What ``n_calls`` calls of this size would cost (0.0 for a model without prices)."""
        try:
            prompt, completion = load_litellm().cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:
            return 0.0
        return float(n_calls * (prompt + completion))
