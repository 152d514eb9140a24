"""The few LLM helpers skill 1's interview code shares: build the gateway, make one structured call.

Every call is bounded (the gateway's own retries, plus a wall-clock cap here) and every failure comes
back as an :class:`~core.llm.errors.LLMError`, so callers have exactly one thing to catch before they
fall back to the offline question bank.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from pydantic import BaseModel

from core.llm.errors import LLMError, LLMNotConfigured

S = TypeVar("S", bound=BaseModel)

ROLE = "interviewer"
STAGE = "extract"
# A single structured call (with the gateway's own re-asks) may take at most this long.
CALL_TIMEOUT_S = 150.0


def make_gateway(project: Any, role: str = ROLE) -> Any | None:
    """The project's gateway when a model is configured for ``role``; None means run offline."""
    try:
        from core.llm import settings

        if settings.resolve(role, project.meta.models) is None:
            return None
        from core.llm.gateway import Gateway
    except ImportError:
        return None
    # An interview is interactive: fewer, shorter retries than a batch run before falling back offline.
    gateway = Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm", timeout_s=90, max_retries=2)
    return gateway if configured(gateway, role) else None


def configured(gateway: Any | None, role: str = ROLE) -> bool:
    if gateway is None:
        return False
    try:
        return bool(gateway.configured(role))
    except Exception:
        return False


def call_structured(gateway: Any, messages: list[dict[str, str]], schema: type[S], *,
                    role: str = ROLE, stage: str = STAGE, timeout_s: float = CALL_TIMEOUT_S) -> S:
    """One structured call; any failure (including a hang or a bug in the transport) is an LLMError."""
    if gateway is None:
        raise LLMNotConfigured(f"no model is configured for the {role} role")
    from core.llm.gateway import run_sync

    async def call() -> Any:
        return await asyncio.wait_for(gateway.structured(role, messages, schema, stage=stage), timeout_s)

    try:
        result = run_sync(call())
    except LLMError:
        raise
    except (asyncio.TimeoutError, TimeoutError):
        raise LLMError(f"the {role} model did not answer within {timeout_s:.0f} s") from None
    except Exception as exc:  # the transport must never crash the interview
        raise LLMError(f"the {role} model call failed ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(result, schema):
        try:
            result = schema.model_validate(result if not isinstance(result, BaseModel) else result.model_dump())
        except Exception as exc:
            raise LLMError(f"the {role} model returned something that is not a {schema.__name__} ({exc})") from None
    return result
