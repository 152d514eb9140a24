"""A local OpenAI-compatible chat server that answers by scripted rules and injects faults.

In tests::

    with FakeLLMServer() as srv:
        srv.on_schema("Answer", {"text": "hi"})
        srv.inject("rate_limit", retry_after=1)
        ... point litellm at srv.base_url ...

A llama.cpp-like server with a fixed number of slots: ``srv.slots = 4`` makes every request that
arrives while 4 are being served hang until the client gives up (a real server queues it, and with a
client timeout shorter than the queue the effect is the same); ``GET /props`` then answers
``total_slots`` as llama.cpp does, unless ``srv.props = False`` (a vLLM-like server: 404).

For benchmarks: ``python -m tests.fakes.llm_server --port 8765 --latency 0.25``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel

Reply = Any  # str | dict | list | BaseModel | Callable[[dict], str | dict | list | BaseModel]
FAULTS = ("latency", "rate_limit", "server_error", "timeout", "malformed_json", "truncated", "no_choices",
          "huge_reply")


@dataclass
class Fault:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def render_reply(reply: Reply, request: dict[str, Any]) -> str:
    """Turn a scripted reply into the assistant's message text."""
    if callable(reply) and not isinstance(reply, type):
        reply = reply(request)
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    if isinstance(reply, (dict, list)):
        return json.dumps(reply)
    return str(reply)


def request_text(request: dict[str, Any]) -> str:
    """All message contents joined by newlines (text parts of multi-part contents included)."""
    parts: list[str] = []
    for msg in request.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


def schema_name(request: dict[str, Any]) -> str | None:
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("name")
    return None


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class FakeLLMServer:
    """An aiohttp server on 127.0.0.1 (ephemeral port) run in a background thread."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0, jitter: float = 0.0):
        self.latency = latency
        self.jitter = jitter  # each reply waits latency * uniform(1 - jitter, 1 + jitter)
        self.host = host
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []  # time.monotonic() at which each request arrived
        self.in_flight = 0
        self.max_in_flight = 0
        self.slots: int | None = None  # requests served at once; more hang until the client gives up
        self.props = True  # with slots: GET /props answers total_slots (llama.cpp); False: 404 (vLLM)
        self.hang_s = 60.0  # the longest a request beyond the slots hangs (then 503)
        self.hung = 0  # requests that arrived with every slot busy
        self.props_requests = 0
        self._serving = 0
        self._generation = 0
        self._rules: list[tuple[Callable[[dict], bool], Reply]] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stop: asyncio.Event | None = None

    # ------------------------------------------------------------ scripting

    def on(self, predicate: Callable[[dict[str, Any]], bool], reply: Reply) -> FakeLLMServer:
        with self._lock:
            self._rules.append((predicate, reply))
        return self

    def on_text(self, pattern: str, reply: Reply) -> FakeLLMServer:
        rx = re.compile(pattern, re.S)
        return self.on(lambda req: rx.search(request_text(req)) is not None, reply)

    def on_schema(self, name: str, reply: Reply) -> FakeLLMServer:
        return self.on(lambda req: schema_name(req) == name, reply)

    def inject(self, kind: str, times: int = 1, **params: Any) -> FakeLLMServer:
        """Queue a fault for the next ``times`` requests (faults are consumed in order)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        with self._lock:
            self._faults.extend(Fault(kind, dict(params)) for _ in range(times))
        return self

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._faults.clear()
            self.requests.clear()
            self.times.clear()
            self.max_in_flight = self.in_flight = 0
            self.hung = self.props_requests = self._serving = 0
            self._generation += 1  # requests still running from before the reset stop counting

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # ------------------------------------------------------------ answering

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _answer(self, request: dict[str, Any]) -> str:
        with self._lock:
            rules = list(self._rules)
        for predicate, reply in rules:
            if predicate(request):
                return render_reply(reply, request)
        return "{}" if schema_name(request) else "OK"

    def _completion(self, request: dict[str, Any], text: str, finish: str) -> dict[str, Any]:
        prompt_tokens = max(1, len(request_text(request)) // 4)
        completion_tokens = max(1, len(text) // 4)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake-model"),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _chat(self, http_request: web.Request) -> web.StreamResponse:
        try:
            request = await http_request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(error_body("body is not JSON", "invalid_request_error"), status=400)
        with self._lock:
            self.requests.append(request)
            self.times.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            generation = self._generation
            overflow = self.slots is not None and self._serving >= self.slots
            if overflow:
                self.hung += 1
            else:
                self._serving += 1
        try:
            if overflow:
                return await self._hang(http_request)
            return await self._reply(http_request, request)
        finally:
            with self._lock:
                if generation == self._generation:
                    self.in_flight -= 1
                    if not overflow:
                        self._serving -= 1

    async def _hang(self, http_request: web.Request) -> web.Response:
        """Every slot is busy: wait until the client hangs up (its timeout), at most ``hang_s``."""
        deadline = time.monotonic() + self.hang_s
        while time.monotonic() < deadline:
            transport = http_request.transport
            if transport is None or transport.is_closing():
                break
            await asyncio.sleep(0.02)
        return web.json_response(error_body("every slot is busy", "server_error"), status=503)

    async def _props(self, _request: web.Request) -> web.Response:
        with self._lock:
            self.props_requests += 1
            slots, props = self.slots, self.props
        if slots is None or not props:
            return web.json_response(error_body("File Not Found", "not_found_error"), status=404)
        return web.json_response({"default_generation_settings": {"n_ctx": 4096}, "total_slots": slots,
                                  "model_path": "fake-model.gguf"})

    async def _reply(self, http_request: web.Request, request: dict[str, Any]) -> web.StreamResponse:
        fault = self._next_fault()
        if self.latency:
            spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
            await asyncio.sleep(self.latency * spread)
        finish = "stop"
        if fault is not None:
            p = fault.params
            if fault.kind == "latency":
                await asyncio.sleep(float(p.get("seconds", 1.0)))
            elif fault.kind == "rate_limit":
                retry_after = p.get("retry_after", 1)
                message = p.get("message", "Rate limit reached for fake-model; try again later")
                return web.json_response(
                    error_body(message, "rate_limit_error", "rate_limit_exceeded"),
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )
            elif fault.kind == "server_error":
                status = int(p.get("status", 500))
                message = p.get("message", f"fake upstream failure ({status})")
                return web.json_response(error_body(message, "server_error"), status=status)
            elif fault.kind == "timeout":
                await asyncio.sleep(float(p.get("seconds", 30.0)))
        text = self._answer(request)
        if fault is not None and fault.kind == "malformed_json":
            text = fault.params.get("text", '{"a": 1,')
        elif fault is not None and fault.kind == "truncated":
            text, finish = text[: len(text) // 2], "length"
        elif fault is not None and fault.kind == "huge_reply":  # a runaway reply of ``size`` characters
            text = "x" * int(fault.params.get("size", 20 * 1024 * 1024))
        body = self._completion(request, text, finish)
        if fault is not None and fault.kind == "no_choices":
            body["choices"] = []
        if request.get("stream"):
            return await self._stream(http_request, body)
        return web.json_response(body)

    async def _stream(self, http_request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(http_request)
        choice = body["choices"][0]
        chunk = {
            "id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
            "model": body["model"],
            "choices": [{"index": 0, "delta": choice["message"], "finish_reason": choice["finish_reason"]}],
            "usage": body["usage"],
        }
        await resp.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tunesmith"}]}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/props", self._props)
        return app

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # surfaced to start()
                failure.append(exc)
                ready.set()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LLM server did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        await self._stop.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible fake LLM server (answers 'OK').")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency varies by +- this fraction")
    parser.add_argument("--slots", type=int, default=None, help="requests served at once (llama.cpp-like)")
    args = parser.parse_args(argv)
    server = FakeLLMServer(latency=args.latency, host=args.host, port=args.port, jitter=args.jitter)
    server.slots = args.slots
    print(f"fake LLM server on http://{args.host}:{args.port}/v1 (latency {args.latency}s)", flush=True)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None,
                handle_signals=True, backlog=1024)


if __name__ == "__main__":
    main()
