"""The one async gateway every model call goes through (litellm underneath, imported lazily).

Calls to an ``api_base`` (a server of our own, or a proxy) treat timeouts as back-pressure: a
self-hosted server queues what it cannot serve instead of answering 429, so the limiter lowers the
concurrency when its requests time out (:mod:`core.llm.limiter`). Calls to a provider's own endpoint
(no ``api_base``) keep timeouts as plain transient failures. At the first call to a local
OpenAI-compatible server the gateway asks it how many requests it serves at once (llama.cpp's
``total_slots``, :mod:`core.llm.local_server`) and never runs more than that.

A reply is at most :func:`reply_limit` characters (max(64 KB, max_tokens × 16), 1 MB without
max_tokens): a longer one raises :class:`ReplyTooLarge`, is not retried (asking again gets the same),
counts as a failed call with that reason, and is dropped at once. The limit is enforced as soon as
litellm hands the reply over: litellm (through the OpenAI SDK and httpx) reads the whole body before
that, so one oversized reply still passes through memory once, per call in flight; what the limit
prevents is such replies being kept, quoted back, cached or retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Mapping, TypeVar

from pydantic import BaseModel

from core.llm import structured as so
from core.llm.backend import Pricing, hint_for, load_litellm
from core.llm.cache import ResponseCache, request_key
from core.llm.errors import (BudgetExceeded, CircuitOpen, LLMError, LLMNotConfigured, ReplyTooLarge,
                             StructuredOutputError, scrub)
from core.llm.limiter import AdaptiveLimiter, CircuitBreaker
from core.llm.local_server import NO_SLOT_INFO, is_local, probe_slots
from core.llm.settings import ModelChoice, check_role, key_env_for, not_configured_hint, resolve
from core.llm.usage import UsageLedger, money
from core.models.project import ModelRoles

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Message = dict[str, Any]

def run_sync(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code (the CLI); works inside a running loop too."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached: bool
    model: str


class EmptyReply(Exception):
    """A response without choices: a provider fault, retried like a 502."""

    status_code = 502


STALL_GRACE_S = 60.0  # a stall is declared this long after a call's timeout, without any success
RESERVE_COMPLETION_TOKENS = 1024  # the reply a call without max_tokens is budgeted for
REASK_ECHO_CHARS = 4000  # of an invalid reply, what a re-ask sends back


REPLY_FLOOR_CHARS = 64 * 1024  # the least any reply may be
REPLY_CHARS_PER_TOKEN = 16  # far above any tokenizer's characters per token
REPLY_DEFAULT_CHARS = 1024 * 1024  # a call without max_tokens


def reply_limit(max_tokens: int | None) -> int:
    """The longest reply (characters of content) a call with this ``max_tokens`` accepts."""
    if not max_tokens:
        return REPLY_DEFAULT_CHARS
    return max(REPLY_FLOOR_CHARS, int(max_tokens) * REPLY_CHARS_PER_TOKEN)


def reply_size(response: Any) -> int:
    """Characters of every choice's content, reasoning and tool-call arguments."""
    size = 0
    for choice in getattr(response, "choices", None) or []:
        message = getattr(choice, "message", None)
        for part in (getattr(message, "content", None), getattr(message, "reasoning_content", None)):
            if isinstance(part, str):
                size += len(part)
        for call in getattr(message, "tool_calls", None) or []:
            args = getattr(getattr(call, "function", None), "arguments", None)
            if isinstance(args, str):
                size += len(args)
    return size


def reask_echo(text: str) -> str:
    """An invalid reply as a re-ask quotes it: cut to :data:`REASK_ECHO_CHARS` characters, so that a
    runaway reply is not sent back (and paid for) again and again."""
    if len(text) <= REASK_ECHO_CHARS:
        return text
    return text[:REASK_ECHO_CHARS] + f"\n[… {len(text) - REASK_ECHO_CHARS} more characters cut]"


class Gateway:
    """Model calls by role, with caching, adaptive concurrency, retries, a circuit breaker and a budget.

    ``cache_dir``: where the response cache lives (None: no cache). ``usage_path``: a TOML file the
    per-stage usage is kept in (earlier totals are loaded, so ``budget_usd`` caps the total spent).
    ``backoff_s``/``max_backoff_s``: retry delays; ``breaker_threshold``: failed calls in a row that
    open the circuit. Use it from one event loop at a time. ``max_concurrency`` is lowered to a local
    server's slot count when it tells (``server_slots``: what each API base said; None: nothing).
    """

    def __init__(
        self,
        roles: ModelRoles | None = None,
        cache_dir: Path | None = None,
        budget_usd: float | None = None,
        max_concurrency: int = 16,
        timeout_s: float = 120,
        max_retries: int = 5,
        env: Mapping[str, str] | None = None,
        usage_path: Path | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        breaker_threshold: int = 8,
        stall_s: float | None = None,
    ):
        self.roles = roles
        self.env = env
        self.budget_usd = budget_usd
        self.timeout_s = timeout_s
        self.breaker = CircuitBreaker(threshold=breaker_threshold)
        # no success for this long while calls are out pauses the run (default: one timeout and a minute)
        self.stall_s = stall_s if stall_s is not None else timeout_s + STALL_GRACE_S
        self.limiter = AdaptiveLimiter(max_concurrency, max_retries, backoff_s, max_backoff_s, self.breaker,
                                       stall_s=self.stall_s)
        self.cache = ResponseCache(Path(cache_dir)) if cache_dir else None
        self.usage = UsageLedger(usage_path)
        self.pricing = Pricing()
        self.server_slots: dict[str, int | None] = {}
        self._probes: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[int | None]]] = {}
        self._reserved = 0.0  # dollars held for calls in flight (_reserve)
        self._in_flight = 0
        self._unit_prices: dict[str, tuple[float, float]] = {}

    # ------------------------------------------------------------ configuration

    def configured(self, role: str) -> bool:
        return resolve(role, self.roles, self.env) is not None

    def model_for(self, role: str) -> ModelChoice:
        choice = resolve(check_role(role), self.roles, self.env)
        if choice is None:
            raise LLMNotConfigured(not_configured_hint(role))
        return choice

    # ------------------------------------------------------------ budget and usage

    @property
    def spent_usd(self) -> float:
        return self.usage.spent_usd

    def check_budget(self) -> None:
        spent = self.usage.spent_usd
        if self.budget_usd is not None and spent >= self.budget_usd:
            raise BudgetExceeded(
                f"paused: the budget cap of {money(self.budget_usd)} is spent ({money(spent)} so far); "
                f"raise budget_usd in project.toml [config] to continue"
            )

    def _reserve(self, model: str, request: dict[str, Any]) -> float:
        """Hold the most a call can cost (its prompt, and ``max_tokens`` or :data:`RESERVE_COMPLETION_TOKENS`
        of reply) against the budget while it is in flight, so that calls started together cannot pass the
        cap between them; a call that would pass it pauses the run instead of being sent."""
        self._in_flight += 1
        if self.budget_usd is None:
            return 0.0
        prompt = sum(len(str(m.get("content") or "")) for m in request["messages"]) // 4 + 8
        completion = int(request.get("max_tokens") or RESERVE_COMPLETION_TOKENS)
        unit = self._unit_prices.get(model)
        if unit is None:  # litellm's price lookup, once per model (it is slow per call)
            unit = self._unit_prices[model] = (self.pricing.projected(model, 1, 1000, 0) / 1000,
                                               self.pricing.projected(model, 1, 0, 1000) / 1000)
        cost = prompt * unit[0] + completion * unit[1]
        spent = self.usage.spent_usd
        if cost > 0 and spent + self._reserved + cost > self.budget_usd:
            self._in_flight -= 1
            raise BudgetExceeded(
                f"paused: the budget cap of {money(self.budget_usd)} would be passed ({money(spent)} spent, "
                f"{money(self._reserved)} held for {self._in_flight} calls in flight, about {money(cost)} for "
                f"this one); raise budget_usd in project.toml [config] to continue"
            )
        self._reserved += cost
        return cost

    def projected_cost(self, n_calls: int, avg_prompt_tokens: int, avg_completion_tokens: int, role: str) -> float:
        """Dollars ``n_calls`` calls of this size would cost on the role's model (0.0 when unknown)."""
        return self.pricing.projected(self.model_for(role).model, n_calls, avg_prompt_tokens, avg_completion_tokens)

    def usage_summary(self) -> dict[str, dict[str, float | int]]:
        return self.usage.summary()

    def resume(self) -> None:
        """Close the circuit after the cause of the failures was fixed (the stall clock starts again)."""
        self.breaker.reset()
        self.limiter.progress_at = time.monotonic()

    def close(self) -> None:
        """Write the usage file and close the cache."""
        self.usage.save()
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ calls

    async def complete(
        self,
        role: str,
        messages: list[Message],
        *,
        stage: str,
        temperature: float = 0.7,
        max_tokens: int | None = None,
        use_cache: bool = True,
        seed: int | None = None,
        priority: int = 0,
    ) -> Completion:
        """One chat completion for ``role``; identical requests are answered from the cache. Calls that
        wait for a slot go by ``priority`` (higher first: work that finishes what is already under way)."""
        request = self._request(role, messages, temperature, max_tokens, seed, None)
        completion, key = await self._send(request, role, stage, use_cache, priority=priority)
        if key and self.cache is not None and not completion.cached and completion.finish_reason != "length":
            self._cache_put(key, completion)
        return completion

    async def structured(
        self,
        role: str,
        messages: list[Message],
        schema: type[M],
        *,
        stage: str,
        temperature: float = 0.3,
        max_tokens: int | None = None,
        attempts: int = 3,
        use_cache: bool = True,
        priority: int = 0,
    ) -> M:
        """A validated ``schema`` instance; invalid or cut-off replies are re-asked with the error
        (a re-ask waits for a slot ahead of new work). ``priority`` as in :meth:`complete`."""
        choice = self.model_for(role)
        load_litellm()
        native = so.supports_schema(choice)
        fmt = so.response_format(schema) if native else None
        convo = list(messages) if native else so.with_instructions(messages, schema)
        last_error = "no attempt was made"
        for attempt in range(max(1, attempts)):
            request = self._request(role, convo, temperature, max_tokens, None, fmt)
            completion, key = await self._send(request, role, stage, use_cache, priority=priority + (attempt > 0))
            if completion.finish_reason == "length":
                last_error = f"the reply was cut off at {max_tokens or 'the default'} tokens"
                max_tokens = max(2 * (max_tokens or completion.completion_tokens or 512), 1024)
                convo = [*convo, {"role": "user", "content": so.reask_truncated(schema)}]
                continue
            try:
                result = so.parse_reply(completion.text, schema)
            except ValueError as exc:
                last_error = str(exc)
                convo = [
                    *convo,
                    {"role": "assistant", "content": reask_echo(completion.text)},
                    {"role": "user", "content": so.reask_invalid(schema, last_error)},
                ]
                continue
            if key and self.cache is not None and not completion.cached:
                self._cache_put(key, completion)  # only replies that validated are cached
            return result
        raise StructuredOutputError(schema.__name__, last_error, max(1, attempts))

    async def ping(self, role: str) -> tuple[bool, str]:
        """One tiny call for ``tunesmith doctor``: (ok, one line saying what answered or what to fix)."""
        try:
            choice = self.model_for(role)
        except LLMNotConfigured:
            return False, f"{role}: not configured: set TUNESMITH_MODEL (and TUNESMITH_API_BASE for a local server)"
        request = self._request(role, [{"role": "user", "content": "Reply with the word OK."}], 0.0, 5, None, None)
        started = time.monotonic()
        try:
            # its own limiter: doctor diagnoses even while the circuit is open, and leaves it alone
            await self._send(request, role, "doctor", use_cache=False, limiter=AdaptiveLimiter(1, max_retries=0))
        except LLMError as exc:
            return False, scrub(str(exc))
        return True, f"{role}: {choice} answered in {time.monotonic() - started:.1f}s"

    # ------------------------------------------------------------ internals

    def _request(
        self,
        role: str,
        messages: list[Message],
        temperature: float,
        max_tokens: int | None,
        seed: int | None,
        fmt: dict[str, Any] | None,
    ) -> dict[str, Any]:
        choice = self.model_for(role)
        request: dict[str, Any] = {"model": choice.model, "messages": messages, "temperature": temperature}
        if choice.api_base:
            request["api_base"] = choice.api_base
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if seed is not None:
            request["seed"] = seed
        if fmt is not None:
            request["response_format"] = fmt
        return request

    async def _send(
        self,
        request: dict[str, Any],
        role: str,
        stage: str,
        use_cache: bool,
        limiter: AdaptiveLimiter | None = None,
        priority: int = 0,
    ) -> tuple[Completion, str | None]:
        key = request_key(request) if use_cache and self.cache is not None else None
        if key is not None:
            hit = self.cache.get(key)  # type: ignore[union-attr]
            if hit is not None:
                hit_completion = self._from_cache(hit)
                if hit_completion is not None:
                    self.usage.record(stage, cached=True)
                    return hit_completion, key
        self.check_budget()
        litellm = load_litellm()
        choice = ModelChoice(request["model"], request.get("api_base"))
        self.pricing.prepare(choice.model)
        reserved = self._reserve(choice.model, request)
        try:
            return await self._send_paid(request, role, stage, key, choice, litellm, limiter, priority)
        finally:
            self._reserved -= reserved
            self._in_flight -= 1

    async def _send_paid(self, request: dict[str, Any], role: str, stage: str, key: str | None,
                         choice: ModelChoice, litellm: Any, limiter: AdaptiveLimiter | None,
                         priority: int) -> tuple[Completion, str | None]:
        extra: dict[str, Any] = {}
        if choice.api_base and choice.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            extra["api_key"] = "no-key"  # a local OpenAI-compatible server without auth

        limit = reply_limit(request.get("max_tokens"))

        async def call() -> Any:
            response = await litellm.acompletion(**request, **extra, timeout=self.timeout_s, max_retries=0)
            if not (getattr(response, "choices", None) or []):
                raise EmptyReply(f"{choice.model} answered without a reply (no choices in the response)")
            size = reply_size(response)
            if size > limit:
                usage = getattr(response, "usage", None)  # what it cost is still spent
                self.usage.record(stage, prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                                  completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                                  cost_usd=self.pricing.cost(response, choice.model))
                del response  # dropped now, not kept alive by the error's traceback
                raise ReplyTooLarge(
                    f"{role} call to {choice.model}: the reply was {size:,} characters, over the limit of "
                    f"{limit:,} (max(64 KB, max_tokens × {REPLY_CHARS_PER_TOKEN}); 1 MB without max_tokens); "
                    f"not retried: check the model's max_tokens and stop settings")
            return response

        label = f"{role} call to {choice.model}"
        if limiter is None:
            await self._cap_to_server(choice)
        try:
            response = await (limiter or self.limiter).run(
                call, label=label, priority=priority, timeouts_are_backpressure=bool(choice.api_base))
        except (CircuitOpen, ReplyTooLarge):
            raise
        except LLMError as exc:
            hint = hint_for(exc.status, str(exc), choice)
            raise LLMError(f"{exc}; {hint}" if hint else str(exc), status=exc.status) from None
        completion = self._completion(response, choice.model)
        self.usage.record(
            stage,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=completion.cost_usd,
        )
        return completion, key

    async def _cap_to_server(self, choice: ModelChoice) -> None:
        """Once per API base: ask a local OpenAI-compatible server how many requests it serves at once
        and cap the concurrency there. Calls that arrive while the answer is awaited wait for it, so the
        first burst already keeps to the cap. Hosted providers and remote hosts are never asked."""
        base = choice.api_base
        if not base or base in self.server_slots:
            return
        if choice.provider not in so.OPENAI_COMPATIBLE or choice.provider in NO_SLOT_INFO or not is_local(base):
            self.server_slots[base] = None
            return
        loop = asyncio.get_running_loop()
        pending = self._probes.get(base)
        if pending is None or pending[0] is not loop or pending[1].cancelled():
            pending = (loop, loop.create_task(probe_slots(base, os.environ.get(key_env_for(choice.model)))))
            self._probes[base] = pending
        slots = await asyncio.shield(pending[1])  # a caller cancelled meanwhile leaves it to the others
        if base not in self.server_slots:
            self.server_slots[base] = slots
            self._probes.pop(base, None)
            if slots:
                self.limiter.cap(slots)

    def _completion(self, response: Any, model: str) -> Completion:
        choices = getattr(response, "choices", None) or []
        if not choices or getattr(choices[0], "message", None) is None:
            raise LLMError(f"{model} answered without a reply (no choices in the response); try again, or "
                           f"check the provider's status")
        choice = choices[0]
        usage = getattr(response, "usage", None)
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self.pricing.cost(response, model),
            cached=False,
            model=model,
        )

    @staticmethod
    def _from_cache(hit: dict[str, Any]) -> Completion | None:
        try:
            return Completion(
                text=str(hit["text"]),
                finish_reason=hit.get("finish_reason"),
                prompt_tokens=int(hit.get("prompt_tokens", 0)),
                completion_tokens=int(hit.get("completion_tokens", 0)),
                cost_usd=0.0,
                cached=True,
                model=str(hit.get("model", "")),
            )
        except (KeyError, TypeError, ValueError):  # an entry from an older format is a miss
            return None

    def _cache_put(self, key: str, completion: Completion) -> None:
        self.cache.put(key, {  # type: ignore[union-attr]
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "model": completion.model,
        })
