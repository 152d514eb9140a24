"""The gateway against grammar-constrained local servers (llama.cpp and the like).

Grammar-friendly schemas (every property required, closed sets as enums, bounds kept), an empty reply
re-asked where content is needed, a llama.cpp server's slot count read from /props and kept to, and
timeouts from a self-hosted server taken as back-pressure.
"""

from __future__ import annotations

import ast
import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel, Field

from core.llm import CircuitOpen, Gateway, ModelChoice, StructuredOutputError, run_sync
from core.llm import local_server
from core.llm.limiter import AdaptiveLimiter, CircuitBreaker
from core.llm.structured import grammar_schema, response_format
from tests.fakes import fake_env
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.schema_faker import instance

ROOT = Path(__file__).resolve().parents[1]


def response_schemas() -> list[type[BaseModel]]:
    """Every schema the project hands to ``gateway.structured`` / ``call_structured``."""
    from core.evaluate.judge import JudgeVerdict, PairwiseVerdict
    from core.evaluate.judge_items import AnswerItems, RefusalItems
    from core.evaluate.run import Paraphrases
    from core.extract.artifacts import ScopeDraft, TaxonomyDraft
    from core.extract.evalset import EvalBatch
    from core.extract.frameworks import FrameworkMapping
    from core.extract.interview import QuestionCandidates
    from core.extract.personas import PersonaProposals
    from core.generate import generator_schemas
    from core.generate.filters.constraints import ConstraintVerdicts
    from core.generate.filters.custom import FactualVerdicts
    from core.generate.filters.safety import ModerationVerdicts

    out = [Paraphrases, JudgeVerdict, PairwiseVerdict, AnswerItems, RefusalItems, ScopeDraft, TaxonomyDraft, EvalBatch, FrameworkMapping,
           QuestionCandidates, PersonaProposals, ConstraintVerdicts, FactualVerdicts, ModerationVerdicts,
           *generator_schemas.SCHEMAS]
    labeled = getattr(generator_schemas, "labeled_batch", None)  # classification with a known label set
    if labeled is not None:
        out.append(labeled(("billing", "shipping")))
    try:
        from core.task_type import TaskTypeGuess
    except ImportError:  # a newer module
        pass
    else:
        out.append(TaskTypeGuess)
    return out


# ---------------------------------------------------------------- (a) the schemas sent


def objects(node: Any, path: str = "$"):
    """Every object schema inside ``node``, with where it is."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield path, node
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                for name, sub in value.items():
                    yield from objects(sub, f"{path}.{key}.{name}")
            elif isinstance(value, (dict, list)):
                yield from objects(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from objects(sub, f"{path}[{i}]")


def direct_schema_names() -> set[str]:
    """Class names passed literally as the schema to ``.structured(role, messages, Schema)`` or
    ``call_structured(gateway, messages, Schema)`` anywhere in core/."""
    names: set[str] = set()
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 3:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[2]
            if called in ("structured", "call_structured") and isinstance(arg, ast.Name) and arg.id[:1].isupper():
                names.add(arg.id)
    return names


def test_the_list_of_response_schemas_is_complete():
    listed = {s.__name__ for s in response_schemas()}
    found = direct_schema_names()
    assert found and found <= listed, f"schemas sent but not checked here: {sorted(found - listed)}"


@pytest.mark.parametrize("schema", response_schemas(), ids=lambda s: s.__name__)
def test_every_property_is_required_and_no_other_allowed(schema):
    sent = response_format(schema)["json_schema"]["schema"]
    found = list(objects(sent))
    assert found
    for where, obj in found:
        assert obj["required"] == list(obj["properties"]), f"{schema.__name__} {where}"
        assert obj.get("additionalProperties") is False, f"{schema.__name__} {where}"


@pytest.mark.parametrize("schema", response_schemas(), ids=lambda s: s.__name__)
def test_the_schema_faker_still_answers_every_schema_validly(schema):
    sent = grammar_schema(schema)
    for seed in range(12):
        schema.model_validate(instance(sent, sent, random.Random(seed)))


def test_closed_sets_are_enums_and_bounds_are_kept():
    from core.extract.evalset import EvalBatch

    draft = grammar_schema(EvalBatch)["$defs"]["EvalDraft"]["properties"]
    assert draft["difficulty"]["enum"] == ["easy", "medium", "hard"]
    assert draft["input"]["minLength"] >= 1 and draft["reference"]["minLength"] >= 1
    assert grammar_schema(EvalBatch)["properties"]["examples"]["minItems"] == 1
    assert draft["rationale"]["anyOf"][-1] == {"type": "null"}  # required, but still nullable

    from core.extract.interview import QuestionCandidates

    q = grammar_schema(QuestionCandidates)["$defs"]["CandidateQuestion"]["properties"]
    assert "quality_criteria" in q["informs"]["enum"] and (q["impact"]["minimum"], q["impact"]["maximum"]) == (0, 1)
    assert (q["suggestions"]["minItems"], q["suggestions"]["maxItems"]) == (2, 4)


def test_grammar_schema_reaches_nested_objects_arrays_and_anyof():
    class Leaf(BaseModel):
        a: int = 0

    class Node(BaseModel):
        leaf: Leaf | None = None
        leaves: list[Leaf] = Field(default_factory=list)
        nested: dict[str, list[Leaf]] = Field(default_factory=dict)
        note: str = ""

    sent = grammar_schema(Node)
    assert sent["required"] == ["leaf", "leaves", "nested", "note"]
    assert sent["$defs"]["Leaf"]["required"] == ["a"]
    assert Node.model_validate({}) == Node()  # validation keeps pydantic's defaults


def test_loose_difficulties_still_validate():
    from core.extract.evalset import EvalDraft

    def diff(value: Any) -> str:
        return EvalDraft.model_validate({"input": "How do I file?", "reference": "Like this.",
                                         "difficulty": value}).difficulty

    assert [diff(v) for v in ("Easy", " MEDIUM ", "med", "Moderate", "difficult", "Hard", 2, "3")] == [
        "easy", "medium", "medium", "medium", "hard", "hard", "medium", "hard"]
    assert diff(": 0") == diff(None) == "easy"  # no level: the first cell with room takes it, as before


# ---------------------------------------------------------------- (b) an empty object


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def srv(server, monkeypatch):
    server.reset()
    server.latency, server.slots, server.props, server.hang_s = 0.0, None, True, 60.0
    for name, value in fake_env(server.base_url).items():
        monkeypatch.setenv(name, value)
    return server


def make_gateway(**kw) -> Gateway:
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("max_backoff_s", 0.05)
    kw.setdefault("timeout_s", 10)
    return Gateway(**kw)


def ask(text: str = "Write examples.") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


GOOD_BATCH = {"examples": [{"input": "How do I file a VAT return?", "reference": "Step one, then step two.",
                            "difficulty": "Easy", "rationale": None, "based_on": None}]}


async def test_an_empty_reply_is_reasked_where_content_is_needed(srv):
    from core.extract.evalset import EvalBatch

    answers = iter(["{}", GOOD_BATCH])
    srv.on_schema("EvalBatch", lambda req: next(answers))
    gw = make_gateway()
    batch = await gw.structured("generator", ask(), EvalBatch, stage="extract")
    assert [e.difficulty for e in batch.examples] == ["easy"]
    assert len(srv.requests) == 2
    reask = srv.requests[1]["messages"]
    assert reask[-2] == {"role": "assistant", "content": "{}"}
    assert "not a valid EvalBatch" in reask[-1]["content"] and "examples" in reask[-1]["content"]


async def test_an_empty_reply_for_required_fields_is_never_accepted(srv):
    class Answer(BaseModel):
        text: str = Field(min_length=1)
        confidence: float = 0.5

    srv.on_schema("Answer", "{}")
    gw = make_gateway()
    with pytest.raises(StructuredOutputError, match="text: Field required"):
        await gw.structured("generator", ask(), Answer, stage="s", attempts=2)
    assert len(srv.requests) == 2
    srv.reset()
    srv.on_schema("Answer", {"text": "yes"})  # a provider that leaves out a defaulted field: filled in
    assert await gw.structured("generator", ask(), Answer, stage="s") == Answer(text="yes")


# ---------------------------------------------------------------- (c) a server's slots


async def test_a_llama_cpp_server_slot_count_caps_the_concurrency(srv):
    srv.slots, srv.latency = 4, 0.1  # a 5th request at once would hang until the client gives up
    gw = make_gateway(max_concurrency=16, timeout_s=5)
    outs = await asyncio.gather(*(gw.complete("generator", ask(f"q{i}"), stage="s", use_cache=False)
                                  for i in range(20)))
    assert [o.text for o in outs] == ["OK"] * 20
    assert srv.max_in_flight <= 4 and srv.hung == 0 and len(srv.requests) == 20
    assert srv.props_requests == 1 and gw.server_slots == {srv.base_url: 4}
    assert gw.limiter.max_concurrency == 4 and gw.limiter.timed_out == 0
    await gw.complete("judge", ask("more"), stage="s", use_cache=False)
    assert srv.props_requests == 1  # asked once per API base


def test_the_slot_count_is_asked_once_across_event_loops(srv):
    srv.slots = 2
    gw = make_gateway(max_concurrency=8)
    assert run_sync(gw.complete("generator", ask(), stage="s")).text == "OK"
    assert run_sync(gw.complete("generator", ask("again"), stage="s", use_cache=False)).text == "OK"
    assert srv.props_requests == 1 and gw.limiter.max_concurrency == 2


async def test_a_server_without_props_is_left_alone(srv):
    srv.slots, srv.props = 4, False  # vLLM-like: /props is 404
    gw = make_gateway(max_concurrency=3)
    await asyncio.gather(*(gw.complete("generator", ask(f"q{i}"), stage="s", use_cache=False) for i in range(3)))
    assert srv.props_requests == 1 and gw.server_slots == {srv.base_url: None}
    assert gw.limiter.max_concurrency == 3


async def test_remote_and_non_openai_servers_are_never_probed(monkeypatch):
    async def no_probe(*args, **kw):
        raise AssertionError("probed")

    monkeypatch.setattr("core.llm.gateway.probe_slots", no_probe)
    gw = make_gateway()
    for choice in (ModelChoice("openai/gpt-4o-mini", "https://api.openai.com/v1"),
                   ModelChoice("anthropic/claude-sonnet-4-5"),
                   ModelChoice("hosted_vllm/my-model", "http://127.0.0.1:8000/v1"),
                   ModelChoice("ollama/llama3", "http://localhost:11434")):
        await gw._cap_to_server(choice)
    assert gw.server_slots == {"https://api.openai.com/v1": None, "http://127.0.0.1:8000/v1": None,
                               "http://localhost:11434": None}
    assert gw.limiter.max_concurrency == 16


def test_which_api_bases_are_local():
    local = ["http://127.0.0.1:8080/v1", "http://localhost:8080", "http://[::1]:8000/v1", "http://10.1.2.3/v1",
             "http://192.168.1.20:8080/v1", "http://172.16.0.9/v1", "http://100.101.102.103:8080/v1",
             "http://llama:8080/v1", "http://gpu-box.local:8080/v1", "http://host.docker.internal:8080/v1",
             "127.0.0.1:8080"]
    remote = ["https://api.openai.com/v1", "https://openrouter.ai/api/v1", "http://8.8.8.8/v1", None, ""]
    assert [b for b in local if not local_server.is_local(b)] == []
    assert [b for b in remote if local_server.is_local(b)] == []
    assert local_server.server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert local_server.slots_from({"total_slots": 4}) == 4
    assert local_server.slots_from({"total_slots": 0}) is local_server.slots_from({"total_slots": True}) is None


async def test_probe_never_raises_and_reads_an_older_servers_slot_list():
    async def props(_request: web.Request) -> web.Response:
        return web.json_response({"default_generation_settings": {"n_ctx": 2048}})  # no total_slots

    async def slots(_request: web.Request) -> web.Response:
        return web.json_response([{"id": 0}, {"id": 1}, {"id": 2}])

    app = web.Application()
    app.router.add_get("/props", props)
    app.router.add_get("/slots", slots)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        assert await local_server.probe_slots(f"http://127.0.0.1:{port}/v1") == 3
    finally:
        await runner.cleanup()
    started = time.monotonic()
    assert await local_server.probe_slots("http://127.0.0.1:9/v1", timeout_s=0.5) is None  # nothing listens
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------- (d) timeouts as back-pressure


async def test_timeouts_from_a_local_server_lower_the_concurrency_and_calls_complete(srv):
    srv.slots, srv.props, srv.latency = 4, False, 0.2  # 4 slots it does not tell about (like vLLM, Ollama)
    gw = make_gateway(max_concurrency=16, timeout_s=1)
    started = time.monotonic()
    outs = await asyncio.gather(*(gw.complete("generator", ask(f"q{i}"), stage="s", use_cache=False)
                                  for i in range(16)))
    assert [o.text for o in outs] == ["OK"] * 16
    assert srv.hung > 0 and gw.limiter.timed_out > 0  # the first burst: those past 4 waited out the timeout
    assert gw.limiter.capacity < 16  # halved at least once, and not grown back yet
    assert not gw.breaker.is_open and gw.breaker.consecutive == 0
    assert time.monotonic() - started < 15


async def timing_out(lim: AdaptiveLimiter, n: int, backpressure: bool) -> list[Any]:
    async def call() -> None:
        await asyncio.sleep(0.01)
        raise TimeoutError("Request timed out")

    return await asyncio.gather(*(lim.run(call, timeouts_are_backpressure=backpressure) for _ in range(n)),
                                return_exceptions=True)


async def test_timeouts_from_a_provider_endpoint_are_plain_failures():
    lim = AdaptiveLimiter(max_concurrency=8, max_retries=1, base_delay=0.001, max_delay=0.002)
    await timing_out(lim, 8, backpressure=False)
    assert lim.limit == 8 and lim.timed_out == 0 and lim.retries == 8


async def test_a_lone_timeout_says_nothing_about_concurrency():
    lim = AdaptiveLimiter(max_concurrency=8, max_retries=2, base_delay=0.001, max_delay=0.002)
    await timing_out(lim, 1, backpressure=True)
    assert lim.limit == 8 and lim.timed_out == 0


async def test_sustained_timeouts_still_open_the_circuit_with_a_clear_message():
    breaker = CircuitBreaker(threshold=3)
    lim = AdaptiveLimiter(max_concurrency=8, max_retries=2, base_delay=0.001, max_delay=0.002, breaker=breaker)
    results = await timing_out(lim, 8, backpressure=True)
    assert lim.timed_out > 0 and lim.capacity < 8 and all(isinstance(r, Exception) for r in results)
    assert breaker.is_open
    with pytest.raises(CircuitOpen) as err:  # the next call spends nothing
        await lim.run(lambda: asyncio.sleep(0))
    msg = str(err.value)
    assert msg.startswith("paused: the provider has failed") and "timed out" in msg
    assert "concurrency lowered to" in msg or "no other call was in flight" in msg
