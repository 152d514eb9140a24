"""The LLM gateway, driven through the real litellm HTTP path against the local fake server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, Field

from core.llm import (
    BudgetExceeded,
    CircuitOpen,
    Gateway,
    LLMError,
    LLMNotConfigured,
    ModelChoice,
    StructuredOutputError,
    describe,
    resolve,
    run_sync,
    scrub,
)
from core.llm.jsonrepair import parse_json
from core.llm.limiter import AdaptiveLimiter
from core.models.project import ModelRoles
from tests.fakes import fake_env
from tests.fakes.llm_server import FakeLLMServer

KEY = "sk-fake-test-key-not-secret"
ROOT = Path(__file__).resolve().parents[1]


class Verdict(BaseModel):
    label: str
    score: int = Field(ge=1, le=5)
    reasons: list[str] = Field(default_factory=list)


GOOD = Verdict(label="pass", score=4, reasons=["clear", "correct"])


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def srv(server, monkeypatch):
    server.reset()
    server.latency = 0.0
    for name in list(os.environ):
        if name.startswith("TUNESMITH_") and name.endswith(("_MODEL", "_API_BASE")):
            monkeypatch.delenv(name)
    for name, value in fake_env(server.base_url).items():
        monkeypatch.setenv(name, value)
    return server


def make_gateway(**kw) -> Gateway:
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("max_backoff_s", 0.05)
    kw.setdefault("timeout_s", 10)
    return Gateway(**kw)


@pytest.fixture
def gw(srv):
    gateway = make_gateway()
    yield gateway
    gateway.close()


def ask(text: str = "Say OK.") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- completion and structured output


async def test_plain_completion(srv, gw):
    srv.on_text(r"capital of France", "Paris")
    out = await gw.complete("generator", ask("What is the capital of France?"), stage="pilot", max_tokens=20)
    assert out.text == "Paris"
    assert out.finish_reason == "stop" and not out.cached
    assert out.model == "openai/fake-model"
    assert out.prompt_tokens > 0 and out.completion_tokens > 0
    sent = srv.requests[-1]
    assert sent["model"] == "fake-model" and sent["max_tokens"] == 20
    assert sent["messages"][-1]["content"] == "What is the capital of France?"


async def test_structured_output_uses_json_schema(srv, gw):
    srv.on_schema("Verdict", GOOD)
    out = await gw.structured("judge", ask("Judge this."), Verdict, stage="judge")
    assert out == GOOD
    fmt = srv.requests[-1]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Verdict"
    # every property is required, the defaulted one too (a grammar built from it allows no "{}")
    assert fmt["json_schema"]["schema"]["required"] == ["label", "score", "reasons"]
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


def test_response_format_is_built_once_and_handed_out_fresh():
    from core.llm.structured import _schema_json, grammar_schema, response_format

    _schema_json.cache_clear()
    first = response_format(Verdict)
    expected = {**Verdict.model_json_schema(), "required": ["label", "score", "reasons"], "additionalProperties": False}
    assert first["json_schema"]["schema"] == expected
    first["json_schema"]["schema"]["properties"].clear()  # a provider adapter that edits it in place
    assert response_format(Verdict)["json_schema"]["schema"] == expected == grammar_schema(Verdict)
    assert _schema_json.cache_info().misses == 1  # built once


async def test_structured_repairs_fenced_json_with_trailing_commas(srv, gw):
    srv.on_schema("Verdict", 'Here it is:\n```json\n{"label": "pass", "score": 4, "reasons": ["clear", "correct",],}\n```')
    assert await gw.structured("judge", ask(), Verdict, stage="judge") == GOOD
    assert len(srv.requests) == 1


async def test_reask_after_malformed_json(srv, gw):
    srv.on_schema("Verdict", GOOD)
    srv.inject("malformed_json")
    assert await gw.structured("judge", ask(), Verdict, stage="judge") == GOOD
    assert len(srv.requests) == 2
    retry = srv.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"a": 1,'}
    assert "not a valid Verdict" in retry[-1]["content"] and "not valid JSON" in retry[-1]["content"]


async def test_priority_reaches_the_limiter_and_a_reask_goes_ahead(srv, gw, monkeypatch):
    seen: list[int] = []
    run = gw.limiter.run

    async def spy(call, label="model call", retries=None, priority=0, **kw):
        seen.append(priority)
        return await run(call, label=label, retries=retries, priority=priority, **kw)

    monkeypatch.setattr(gw.limiter, "run", spy)
    srv.on_schema("Verdict", GOOD)
    srv.inject("malformed_json")
    assert await gw.structured("judge", ask(), Verdict, stage="judge", priority=4) == GOOD
    await gw.complete("generator", ask("plain"), stage="s", use_cache=False)
    assert seen == [4, 5, 0]


async def test_reask_after_validation_error(srv, gw):
    answers = iter(['{"label": "pass", "score": 9}', GOOD])
    srv.on_schema("Verdict", lambda req: next(answers))
    assert await gw.structured("judge", ask(), Verdict, stage="judge") == GOOD
    assert "score: Input should be less than or equal to 5" in srv.requests[1]["messages"][-1]["content"]


async def test_reask_after_truncation_with_more_tokens(srv, gw):
    srv.on_schema("Verdict", GOOD)
    srv.inject("truncated")
    assert await gw.structured("judge", ask(), Verdict, stage="judge", max_tokens=300) == GOOD
    assert len(srv.requests) == 2
    assert "cut off" in srv.requests[1]["messages"][-1]["content"]
    assert srv.requests[1]["max_tokens"] > 300


async def test_structured_gives_up_with_clear_error(srv, gw):
    srv.on_schema("Verdict", {"label": "pass"})
    with pytest.raises(StructuredOutputError) as err:
        await gw.structured("judge", ask(), Verdict, stage="judge", attempts=2)
    assert "Verdict" in str(err.value) and "2 attempts" in str(err.value) and "score" in str(err.value)
    assert len(srv.requests) == 2


# ---------------------------------------------------------------- retries, rate limits, circuit breaker


async def test_rate_limit_honours_retry_after_and_halves_the_limit(srv):
    gw = make_gateway(max_concurrency=8)
    srv.inject("rate_limit", retry_after=1)
    started = time.monotonic()
    first = asyncio.create_task(gw.complete("generator", ask("one"), stage="s", use_cache=False))
    while not srv.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the 429 is back; a second caller must wait for the same deadline
    second = asyncio.create_task(gw.complete("generator", ask("two"), stage="s", use_cache=False))
    await asyncio.gather(first, second)
    assert time.monotonic() - started >= 1.0
    assert all(t - srv.times[0] >= 0.95 for t in srv.times[1:])  # nobody called before Retry-After passed
    assert len(srv.requests) == 3
    assert gw.limiter.limit < 8 and gw.limiter.rate_limited == 1


async def test_server_errors_are_retried(srv, gw):
    for status in (500, 502, 503):
        srv.inject("server_error", status=status)
    out = await gw.complete("generator", ask(), stage="s")
    assert out.text == "OK"
    assert len(srv.requests) == 4 and gw.limiter.retries == 3


async def test_timeout_is_retried(srv):
    gw = make_gateway(timeout_s=0.5)
    srv.inject("timeout", seconds=3)
    started = time.monotonic()
    out = await gw.complete("generator", ask(), stage="s")
    assert out.text == "OK" and len(srv.requests) == 2
    assert 0.5 <= time.monotonic() - started < 2.5


async def test_auth_error_is_not_retried_and_names_the_key_variable(srv, gw):
    srv.inject("server_error", status=401, message=f"Incorrect API key provided: {KEY}")
    with pytest.raises(LLMError) as err:
        await gw.complete("generator", ask(), stage="s")
    assert len(srv.requests) == 1
    assert "OPENAI_API_KEY" in str(err.value) and KEY not in str(err.value)
    assert err.value.status == 401


async def test_sustained_failures_open_the_circuit(srv):
    gw = make_gateway(max_retries=1, breaker_threshold=3)
    srv.inject("server_error", times=50, status=503)
    for _ in range(3):
        with pytest.raises(LLMError):
            await gw.complete("generator", ask(), stage="s", use_cache=False)
    sent = len(srv.requests)
    with pytest.raises(CircuitOpen) as err:
        await gw.complete("generator", ask(), stage="s", use_cache=False)
    assert len(srv.requests) == sent == 6  # the open circuit spends nothing
    msg = str(err.value)
    assert msg.startswith("paused: the provider has failed 3 times in a row (last error:")
    assert "503" in msg and msg.endswith("fix it and resume")
    srv.reset()
    gw.resume()
    assert (await gw.complete("generator", ask(), stage="s")).text == "OK"


async def test_concurrency_is_limited(srv):
    srv.latency = 0.1
    gw = make_gateway(max_concurrency=3)
    await asyncio.gather(*(gw.complete("generator", ask(f"q{i}"), stage="s", use_cache=False) for i in range(9)))
    assert srv.max_in_flight == 3 and len(srv.requests) == 9


async def test_limiter_aimd():
    lim = AdaptiveLimiter(max_concurrency=16)
    lim.on_rate_limit(started=time.monotonic(), retry_after=None)
    assert lim.limit == 8
    lim.on_rate_limit(started=0.0, retry_after=None)  # an echo of the same congestion event
    assert lim.limit == 8
    for _ in range(8):
        lim.on_success()
    assert 8.9 < lim.limit < 9.1
    for _ in range(200):
        lim.on_success()
    assert lim.limit == 16
    for _ in range(10):
        lim.on_rate_limit(started=time.monotonic() + 1, retry_after=None)
    assert lim.limit == 1 and lim.capacity == 1


# ---------------------------------------------------------------- cache


async def test_cache_hit_and_miss(srv, tmp_path):
    gw = make_gateway(cache_dir=tmp_path / ".cache")
    first = await gw.complete("generator", ask(), stage="s", temperature=0.2)
    again = await gw.complete("generator", ask(), stage="s", temperature=0.2)
    assert again.cached and again.text == first.text and again.cost_usd == 0
    assert len(srv.requests) == 1
    await gw.complete("generator", ask(), stage="s", temperature=0.3)
    await gw.complete("generator", ask(), stage="s", temperature=0.2, seed=7)
    await gw.complete("generator", ask(), stage="s", temperature=0.2, max_tokens=9)
    assert len(srv.requests) == 4
    assert gw.usage_summary()["s"]["cache_hits"] == 1
    gw.close()
    reopened = make_gateway(cache_dir=tmp_path / ".cache")
    assert (await reopened.complete("generator", ask(), stage="s", temperature=0.2)).cached
    assert len(srv.requests) == 4
    reopened.close()


async def test_truncated_and_invalid_replies_are_not_cached(srv, tmp_path):
    gw = make_gateway(cache_dir=tmp_path)
    srv.inject("truncated")
    assert (await gw.complete("generator", ask("long"), stage="s")).finish_reason == "length"
    assert not (await gw.complete("generator", ask("long"), stage="s")).cached
    srv.on_schema("Verdict", GOOD)
    srv.inject("malformed_json")
    await gw.structured("judge", ask("v"), Verdict, stage="j")
    before = len(srv.requests)
    assert await gw.structured("judge", ask("v"), Verdict, stage="j") == GOOD
    assert len(srv.requests) == before + 1  # the malformed first reply was not replayed from the cache
    gw.close()


# ---------------------------------------------------------------- usage, cost and budget


@pytest.fixture
def priced_model(srv, monkeypatch):
    from core.llm.backend import load_litellm

    litellm = load_litellm()
    model = "openai/fake-priced-model"
    litellm.register_model(
        {model: {"input_cost_per_token": 1e-4, "output_cost_per_token": 2e-4, "litellm_provider": "openai",
                 "mode": "chat"}},
        add_to_provider_model_sets=False,
    )
    monkeypatch.setenv("TUNESMITH_MODEL", model)
    return model


async def test_usage_per_stage_and_persisted_without_keys(srv, priced_model, tmp_path):
    usage_file = tmp_path / "usage.toml"
    gw = make_gateway(usage_path=usage_file)
    await gw.complete("generator", ask("a" * 400), stage="pilot")
    await gw.complete("generator", ask("b" * 400), stage="pilot")
    await gw.complete("judge", ask("c"), stage="evaluate")
    summary = gw.usage_summary()
    assert summary["pilot"]["calls"] == 2 and summary["evaluate"]["calls"] == 1
    assert summary["pilot"]["prompt_tokens"] >= 200
    assert summary["pilot"]["cost_usd"] > 0
    assert summary["total"]["calls"] == 3
    assert summary["total"]["cost_usd"] == pytest.approx(summary["pilot"]["cost_usd"] + summary["evaluate"]["cost_usd"])
    gw.close()
    text = usage_file.read_text()
    assert "schema_version = 1" in text and "[stages.pilot]" in text
    assert KEY not in text and "sk-" not in text
    assert make_gateway(usage_path=usage_file).usage_summary()["total"]["calls"] == 3  # totals carry over


async def test_budget_cap_pauses(srv, priced_model, tmp_path):
    gw = make_gateway(budget_usd=0.007, cache_dir=tmp_path)
    await gw.complete("generator", ask("x" * 200), stage="scale", max_tokens=1)  # ~$0.0052, ~$0.006 held
    with pytest.raises(BudgetExceeded) as err:  # another $0.006 would pass the cap: never sent
        await gw.complete("generator", ask("y" * 200), stage="scale", max_tokens=1)
    assert "budget cap of $0.0070 would be passed" in str(err.value) and "spent" in str(err.value)
    assert len(srv.requests) == 1 and gw.spent_usd <= 0.007
    gw.budget_usd = 0.001
    with pytest.raises(BudgetExceeded) as err:
        await gw.complete("generator", ask("another"), stage="scale", max_tokens=1)
    assert "budget cap of $0.0010 is spent" in str(err.value) and "so far" in str(err.value)
    assert len(srv.requests) == 1
    assert (await gw.complete("generator", ask("x" * 200), stage="scale", max_tokens=1)).cached  # hits are free
    gw.close()


async def test_the_budget_holds_with_calls_in_flight(srv, priced_model):
    """Calls started together reserve their most expensive case: the cap is never passed between them."""
    srv.latency = 0.2
    gw = make_gateway(budget_usd=0.02)
    results = await asyncio.gather(*(gw.complete("generator", ask(f"{i}" * 200), stage="scale", max_tokens=1,
                                                 use_cache=False) for i in range(10)), return_exceptions=True)
    paused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(srv.requests) == 3 and len(paused) == 7, results
    assert "held for 3 calls in flight" in str(paused[0])
    assert gw.spent_usd <= 0.02 and gw._reserved == pytest.approx(0.0, abs=1e-12) and gw._in_flight == 0
    gw.close()


async def test_a_reply_without_choices_is_retried(srv, gw):
    srv.inject("no_choices")
    assert (await gw.complete("generator", ask("hello"), stage="s")).text == "OK"
    assert len(srv.requests) == 2
    srv.inject("no_choices", times=8)
    with pytest.raises(LLMError) as err:
        await gw.complete("generator", ask("again"), stage="s", use_cache=False)
    assert "no choices" in str(err.value) and "Traceback" not in str(err.value)


async def test_a_reask_quotes_a_runaway_reply_cut_short(srv, gw):
    from core.llm.gateway import REASK_ECHO_CHARS

    answers = iter(["{" + "x" * 50_000, GOOD])
    srv.on_schema("Verdict", lambda req: next(answers))
    assert await gw.structured("judge", ask(), Verdict, stage="judge") == GOOD
    echoed = srv.requests[1]["messages"][-2]["content"]
    assert len(echoed) < REASK_ECHO_CHARS + 100 and "more characters cut" in echoed


async def test_projected_cost(srv, priced_model, gw):
    assert gw.projected_cost(100, 1000, 500, "generator") == pytest.approx(100 * (1000 * 1e-4 + 500 * 2e-4))


# ---------------------------------------------------------------- configuration and doctor


def test_role_resolution_precedence():
    roles = ModelRoles(generator="anthropic/claude-x", judge="openai/judge-1", api_base="http://toml/v1")
    env = {"TUNESMITH_MODEL": "openai/global", "TUNESMITH_API_BASE": "http://env/v1"}
    assert resolve("judge", roles, env) == ModelChoice("openai/judge-1", "http://toml/v1")
    assert resolve("judge", roles, {**env, "TUNESMITH_JUDGE_MODEL": "groq/j"}).model == "groq/j"
    assert resolve("generator_fast", roles, env).model == "openai/global"  # unset role: TUNESMITH_MODEL
    assert resolve("generator_fast", roles, {}).model == "anthropic/claude-x"  # then fallback to generator
    assert resolve("weak", ModelRoles(generator_fast="openai/fast", generator="openai/big"), {}).model == "openai/fast"
    assert resolve("weak", None, {"TUNESMITH_GENERATOR_MODEL": "openai/big"}).model == "openai/big"
    assert resolve("interviewer", None, {}) is None
    assert resolve("generator", None, env).api_base == "http://env/v1"
    per_role = {**env, "TUNESMITH_GENERATOR_FAST_MODEL": "openai/f", "TUNESMITH_GENERATOR_FAST_API_BASE": "http://f/v1"}
    assert resolve("generator_fast", roles, per_role) == ModelChoice("openai/f", "http://f/v1")
    with pytest.raises(ValueError):
        resolve("critic", roles, env)


def test_describe_never_shows_keys():
    env = {"TUNESMITH_MODEL": "anthropic/claude-x", "ANTHROPIC_API_KEY": "sk-ant-secretsecretsecret"}
    lines = describe(None, env)
    assert lines["judge"] == "anthropic/claude-x (key set)"
    assert "secret" not in " ".join(lines.values())
    assert describe(None, {})["generator"] == "not configured (offline)"


async def test_not_configured(srv, monkeypatch):
    monkeypatch.delenv("TUNESMITH_MODEL")
    gw = make_gateway()
    assert not gw.configured("judge")
    with pytest.raises(LLMNotConfigured, match="TUNESMITH_MODEL"):
        await gw.complete("judge", ask(), stage="s")
    ok, why = await gw.ping("judge")
    assert not ok and "TUNESMITH_MODEL" in why


async def test_ping(srv, gw, monkeypatch):
    ok, why = await gw.ping("generator")
    assert ok and "openai/fake-model" in why
    srv.inject("server_error", status=401, message=f"bad key {KEY}")
    ok, why = await gw.ping("generator")
    assert not ok and "OPENAI_API_KEY" in why and KEY not in why
    monkeypatch.setenv("TUNESMITH_API_BASE", "http://127.0.0.1:9/v1")
    ok, why = await gw.ping("generator")
    assert not ok and "TUNESMITH_API_BASE" in why


def test_run_sync_from_sync_code(srv):
    gw = make_gateway()
    assert run_sync(gw.complete("generator", ask(), stage="s")).text == "OK"
    assert run_sync(gw.complete("generator", ask(), stage="s")).text == "OK"  # a second event loop


# ---------------------------------------------------------------- secrets and helpers


def test_scrub_removes_keys():
    text = (f"key {KEY}; Authorization: Bearer abcdefghijklmnop123; hf_abcdefghijklmnopq; "
            "sk-ant-api03-xyzxyzxyzxyz; api_key='zzzzzzzzzzzz'")
    clean = scrub(text)
    for secret in (KEY, "abcdefghijklmnop123", "hf_abcdefghijklmnopq", "sk-ant-api03", "zzzzzzzzzzzz"):
        assert secret not in clean
    assert "[redacted]" in clean and scrub("plain words stay") == "plain words stay"


def test_parse_json_repairs_common_faults():
    assert parse_json('```json\n{"a": [1, 2,],}\n```') == {"a": [1, 2]}
    assert parse_json("Sure! {a: True, 'b': None} hope that helps") == {"a": True, "b": None}
    assert parse_json('[{"x": "line\nbreak"}] trailing') == [{"x": "line\nbreak"}]
    assert parse_json('Scores [1-5] follow: {"score": 3}', expect="{") == {"score": 3}
    assert parse_json('{"k": 1 /* note */, // more\n "j": "x"}') == {"k": 1, "j": "x"}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json('{"a": 1,')


def test_importing_core_llm_does_not_import_litellm():
    code = "import sys, core.llm, core.llm.gateway; assert 'litellm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


async def test_structured_without_schema_support_puts_the_schema_in_the_prompt(srv, gw, monkeypatch):
    monkeypatch.setattr("core.llm.structured.supports_schema", lambda choice: False)
    srv.on_text(r"valid Verdict and nothing else", GOOD)
    messages = [{"role": "system", "content": "You are a judge."}, *ask("Judge this.")]
    assert await gw.structured("judge", messages, Verdict, stage="judge") == GOOD
    sent = srv.requests[-1]
    assert "response_format" not in sent
    assert sent["messages"][0]["content"].startswith("You are a judge.") and '"score"' in sent["messages"][0]["content"]


def test_circuit_opens_on_a_high_failure_ratio():
    from core.llm.limiter import CircuitBreaker

    breaker = CircuitBreaker(threshold=8, window=20, ratio=0.8)
    for i in range(20):
        breaker.record_success() if i % 7 == 0 else breaker.record_failure("HTTP 503")
        if i < 19:
            assert not breaker.is_open
    assert breaker.is_open
    with pytest.raises(CircuitOpen, match=r"paused: 17 of the last 20 calls to the provider failed \(last error: HTTP 503\)"):
        breaker.check()


# ---------------------------------------------------------------- a provider that hangs


async def test_a_provider_that_never_answers_pauses_in_bounded_time(srv):
    gw = make_gateway(timeout_s=0.5, stall_s=1.2)
    assert (await gw.complete("generator", ask("warm up"), stage="s")).text == "OK"  # litellm loaded
    srv.inject("timeout", times=20, seconds=30)
    started = time.monotonic()
    calls = [asyncio.ensure_future(gw.complete("generator", ask(f"q{i}"), stage="s", use_cache=False))
             for i in range(4)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert time.monotonic() - started < 3.0
    assert all(isinstance(r, CircuitOpen) for r in results), results
    err = SimpleNamespace(value=results[0])
    assert "no reply from the provider for 1 s" in str(err.value) and "resume" in str(err.value)
    with pytest.raises(CircuitOpen):  # stays paused until resumed
        await gw.complete("generator", ask("later"), stage="s", use_cache=False)
    srv.reset()
    gw.resume()
    assert (await gw.complete("generator", ask("after"), stage="s", use_cache=False)).text == "OK"
    gw.close()


async def test_idle_time_between_calls_is_no_stall(srv):
    gw = make_gateway(timeout_s=0.5, stall_s=0.3)
    assert (await gw.complete("generator", ask("one"), stage="s")).text == "OK"
    await asyncio.sleep(0.5)
    assert (await gw.complete("generator", ask("two"), stage="s")).text == "OK"
    gw.close()


async def test_a_retry_after_longer_than_a_stall_pauses_at_once(srv):
    gw = make_gateway(stall_s=5)
    srv.inject("rate_limit", retry_after=3600)
    started = time.monotonic()
    with pytest.raises(CircuitOpen) as err:
        await gw.complete("generator", ask(), stage="s")
    assert time.monotonic() - started < 2.0 and "asks to wait" in str(err.value) and "Retry-After" in str(err.value)
    gw.close()


def test_the_default_stall_is_a_timeout_and_a_minute():
    assert Gateway(timeout_s=120).stall_s == 180
