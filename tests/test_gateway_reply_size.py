"""A provider reply is capped (issue 13 item 6): over max(64 KB, max_tokens × 16) characters (1 MB without
max_tokens) it raises ReplyTooLarge at once: not retried, not re-asked, not cached, counted as a failure."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from core.llm import Gateway, ReplyTooLarge
from core.llm.gateway import REPLY_DEFAULT_CHARS, REPLY_FLOOR_CHARS, reply_limit
from core.models.project import ModelRoles
from tests.fakes.llm_server import FakeLLMServer


class Verdict(BaseModel):
    ok: bool


@pytest.fixture(scope="module")
def srv():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def gw(srv, tmp_path):
    srv.reset()
    roles = ModelRoles(generator="openai/fake-model", judge="openai/fake-model")
    env = {"TUNESMITH_API_BASE": srv.base_url}
    g = Gateway(roles=roles, env=env, cache_dir=tmp_path / "cache", backoff_s=0.01, max_backoff_s=0.05,
                timeout_s=20)
    yield g
    g.close()


def test_the_limit_follows_max_tokens() -> None:
    assert reply_limit(None) == REPLY_DEFAULT_CHARS == 1024 * 1024
    assert reply_limit(10) == REPLY_FLOOR_CHARS == 64 * 1024
    assert reply_limit(100_000) == 1_600_000


async def test_a_huge_reply_fails_once_and_is_not_retried(srv, gw) -> None:
    srv.inject("huge_reply", size=2 * 1024 * 1024)
    before = len(srv.requests)
    with pytest.raises(ReplyTooLarge) as info:
        await gw.complete("generator", [{"role": "user", "content": "hi"}], stage="test")
    message = str(info.value)
    assert "2,097,152 characters" in message and "limit of 1,048,576" in message and "not retried" in message
    assert len(message) < 500  # the reply itself is not carried in the error
    assert len(srv.requests) - before == 1 and gw.limiter.retries == 0
    assert gw.breaker.consecutive == 1  # a failed call, with its reason
    assert gw.usage.summary()["test"]["calls"] == 1  # what it cost is counted
    reply = await gw.complete("generator", [{"role": "user", "content": "hi"}], stage="test")  # next is fine
    assert reply.text


async def test_max_tokens_sets_the_limit(srv, gw) -> None:
    srv.inject("huge_reply", size=100_000)
    with pytest.raises(ReplyTooLarge, match="limit of 65,536"):
        await gw.complete("generator", [{"role": "user", "content": "a"}], stage="test", max_tokens=100,
                          use_cache=False)
    srv.inject("huge_reply", size=50_000)
    reply = await gw.complete("generator", [{"role": "user", "content": "b"}], stage="test", max_tokens=100,
                              use_cache=False)
    assert len(reply.text) == 50_000


async def test_a_structured_call_is_not_reasked_and_nothing_is_cached(srv, gw) -> None:
    srv.on_schema("Verdict", Verdict(ok=True))
    srv.inject("huge_reply", size=REPLY_DEFAULT_CHARS + 1)
    before = len(srv.requests)
    with pytest.raises(ReplyTooLarge):
        await gw.structured("judge", [{"role": "user", "content": "judge this"}], Verdict, stage="test")
    assert len(srv.requests) - before == 1  # no re-ask quoting the runaway reply
    assert srv.pending_faults == 0
    await gw.structured("judge", [{"role": "user", "content": "judge this"}], Verdict, stage="test")
    assert len(srv.requests) - before == 2  # asked again, not answered from a cached runaway reply
