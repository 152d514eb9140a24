"""The fake OpenAI-compatible server itself: rules, faults and bookkeeping (plain HTTP, no litellm)."""

from __future__ import annotations

import json

import aiohttp
import pytest
from pydantic import BaseModel

from tests.fakes.llm_server import FakeLLMServer


class Item(BaseModel):
    name: str


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.reset()
    return server


async def post(srv: FakeLLMServer, body: dict) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{srv.base_url}/chat/completions", json=body) as resp:
            return resp.status, dict(resp.headers), await resp.json()


def chat(text: str, **extra) -> dict:
    return {"model": "fake-model", "messages": [{"role": "user", "content": text}], **extra}


def schema(name: str) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": {"type": "object"}}}


def content(body: dict) -> str:
    return body["choices"][0]["message"]["content"]


async def test_rules_first_match_wins_and_reply_kinds(srv):
    srv.on_schema("Item", Item(name="lamp"))
    srv.on_text(r"hello", "hi there")
    srv.on_text(r"hello", "never used")
    srv.on(lambda req: req.get("seed") == 3, {"seeded": True})
    srv.on_text(r"echo", lambda req: req["messages"][0]["content"].upper())
    assert content((await post(srv, chat("x", response_format=schema("Item"))))[2]) == '{"name":"lamp"}'
    assert content((await post(srv, chat("hello")))[2]) == "hi there"
    assert json.loads(content((await post(srv, chat("x", seed=3)))[2])) == {"seeded": True}
    assert content((await post(srv, chat("echo me")))[2]) == "ECHO ME"
    assert content((await post(srv, chat("nothing matches")))[2]) == "OK"
    assert content((await post(srv, chat("x", response_format=schema("Other"))))[2]) == "{}"
    assert len(srv.requests) == 6


async def test_usage_and_shape(srv):
    srv.on_text("count", "x" * 40)
    status, _, body = await post(srv, chat("count " * 20))
    assert status == 200 and body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] == 10 and body["usage"]["prompt_tokens"] >= 25
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_faults_are_consumed_in_order(srv):
    srv.inject("rate_limit", retry_after=2).inject("server_error", status=502).inject("truncated")
    srv.inject("malformed_json")
    srv.on_text("q", "abcdefgh")
    status, headers, body = await post(srv, chat("q"))
    assert status == 429 and headers["Retry-After"] == "2" and body["error"]["type"] == "rate_limit_error"
    assert (await post(srv, chat("q")))[0] == 502
    _, _, body = await post(srv, chat("q"))
    assert content(body) == "abcd" and body["choices"][0]["finish_reason"] == "length"
    assert content((await post(srv, chat("q")))[2]) == '{"a": 1,'
    assert content((await post(srv, chat("q")))[2]) == "abcdefgh"
    assert srv.pending_faults == 0


async def test_models_endpoint_and_streaming(srv):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{srv.base_url}/models") as resp:
            assert (await resp.json())["data"][0]["id"] == "fake-model"
        async with session.post(f"{srv.base_url}/chat/completions", json=chat("s", stream=True)) as resp:
            text = await resp.text()
    assert text.startswith("data: ") and text.rstrip().endswith("data: [DONE]")


def test_unknown_fault_is_refused(srv):
    with pytest.raises(ValueError, match="unknown fault"):
        srv.inject("meltdown")
