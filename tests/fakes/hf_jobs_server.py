"""A local fake of the Hugging Face Jobs HTTP API and the bits of the Hub API a training submit needs.

It speaks the HTTP that huggingface_hub's own client methods use, so tests drive the real client::

    with FakeHFJobsServer(user="alice") as hub:
        hub.program = [Stage("RUNNING"), Log("step 1", "step 2"), Sleep(0.1), Stage("COMPLETED")]
        api = HfApi(endpoint=hub.url, token="hf_fake...")
        job = api.run_uv_job("train.py", flavor="a10g-small", namespace="alice", ...)
        for line in api.fetch_job_logs(job_id=job.id, namespace="alice", follow=True): ...

Routes (every request is recorded in ``hub.requests``; an unknown route answers 404 and is listed in
``hub.unhandled``):

    GET  /api/whoami-v2                                   who the Bearer token is
    POST /api/repos/create                                create a repo (409 + url when it exists)
    POST /api/validate-yaml                               README metadata check (always valid)
    GET  /api/{models|datasets|spaces}/{ns}/{name}         repo info
    POST /api/{type}s/{ns}/{name}/preupload/{revision}    every file "regular" (inline in the commit)
    POST /api/{type}s/{ns}/{name}/commit/{revision}       NDJSON commit: files land in hub.repos[...].files
    POST /api/buckets/{ns}/{name}                         create a bucket (run_uv_job ships local scripts there)
    GET  /api/buckets/{ns}/{name}/xet-write-token         a Xet CAS token pointing at {url}/cas
    *    /cas/v1/...  /cas/v2/shards  /v1/telemetry       the minimum of a Xet CAS that hf_xet accepts
    POST /api/buckets/{ns}/{name}/batch                   NDJSON addFile/deleteFile: hub.buckets[...]
    GET  /api/jobs/hardware                               flavors with their price per minute
    POST /api/jobs/{ns}                                   create a job (run_job / run_uv_job)
    GET  /api/jobs/{ns}                                   list jobs
    GET  /api/jobs/{ns}/{id}                              inspect a job
    POST /api/jobs/{ns}/{id}/cancel                       cancel (stage CANCELED after cancel_delay)
    GET  /api/jobs/{ns}/{id}/logs                         SSE: ``data: {"data": line, "timestamp": ...}``,
                                                          replayed from the start on every connection,
                                                          ends when the job is in a terminal stage

Jobs follow a script: ``hub.program`` (the default for new jobs) or ``hub.next_programs`` (one per new job,
first in first out) is a list of steps run in order from the moment the job is created:
``Stage(stage, message)``, ``Log(*lines)``, ``Sleep(seconds)``, ``Wait(name)`` (until ``hub.release(name)``),
``Drop(status=None)`` (cut the open log streams; with ``status`` the next log request fails with it).
On demand: ``hub.set_stage(job_id, stage, message)``, ``hub.emit(job_id, *lines)``, ``hub.drop(job_id)``,
``hub.fail(route, status, times)`` (routes: whoami, create_repo, preupload, commit, bucket, run_job,
inspect, cancel, logs, hardware).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import web

TERMINAL = ("COMPLETED", "CANCELED", "ERROR", "DELETED")

# $/hour list prices, served per minute like the real /api/jobs/hardware
HARDWARE = {
    "cpu-basic": 0.01, "cpu-upgrade": 0.03, "t4-small": 0.40, "t4-medium": 0.60, "l4x1": 0.80, "l4x4": 3.80,
    "a10g-small": 1.00, "a10g-large": 1.50, "a10g-largex2": 3.00, "a10g-largex4": 5.00, "a100-large": 2.50,
    "a100x4": 10.00, "a100x8": 20.00, "h200": 5.00,
}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- job script steps


@dataclass
class Stage:
    stage: str
    message: str | None = None


class Log:
    def __init__(self, *lines: str):
        self.lines = lines

    def __repr__(self) -> str:
        return f"Log({len(self.lines)} lines)"


@dataclass
class Sleep:
    seconds: float


@dataclass
class Wait:
    name: str


@dataclass
class Drop:
    status: int | None = None


Step = Stage | Log | Sleep | Wait | Drop


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    token: str | None
    json: Any = None
    body: bytes = b""


@dataclass
class FakeRepo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeBucket:
    bucket_id: str
    private: bool
    files: dict[str, str] = field(default_factory=dict)  # path -> xet hash


@dataclass
class FakeJob:
    id: str
    namespace: str
    spec: dict[str, Any]
    stage: str = "SCHEDULING"
    message: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    events: list[dict[str, str]] = field(default_factory=list)
    streams_opened: int = 0
    drop_generation: int = 0
    cond: asyncio.Condition | None = None
    task: asyncio.Task | None = None

    @property
    def lines(self) -> list[str]:
        return [e["data"] for e in self.events if not e["data"].startswith("===== Job started")]


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeHFJobsServer:
    """An aiohttp server on 127.0.0.1 (ephemeral port) in a background thread."""

    def __init__(self, user: str = "tester", orgs: tuple[str, ...] = (), tokens: tuple[str, ...] | None = None,
                 host: str = "127.0.0.1", port: int = 0, keepalive: float = 30.0, cancel_delay: float = 0.0):
        self.user = user
        self.orgs = tuple(orgs)
        self.tokens = tokens  # None: any "hf_..." Bearer token is valid
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.cancel_delay = cancel_delay
        self.program: list[Step] = [Stage("RUNNING"), Log("training..."), Stage("COMPLETED")]
        self.next_programs: list[list[Step]] = []
        self.requests: list[Recorded] = []
        self.unhandled: list[str] = []
        self.jobs: dict[str, FakeJob] = {}
        self.repos: dict[str, FakeRepo] = {}
        self.buckets: dict[str, FakeBucket] = {}
        self.xorbs: dict[str, bytes] = {}
        self._faults: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        self._releases: set[str] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # ------------------------------------------------------------ scripting (any thread)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, route: str, status: int, times: int = 1, body: Any = None) -> FakeHFJobsServer:
        with self._lock:
            self._faults[route].extend([(status, body)] * times)
        return self

    def release(self, name: str) -> None:
        """Let the jobs waiting on ``Wait(name)`` go on."""
        self._call(self._release, name)

    def set_stage(self, job_id: str, stage: str, message: str | None = None) -> None:
        self._call(self._set_stage, self.jobs[job_id], stage, message)

    def emit(self, job_id: str, *lines: str) -> None:
        self._call(self._emit, self.jobs[job_id], lines)

    def drop(self, job_id: str, status: int | None = None) -> None:
        """Cut the job's open log streams (the client sees the connection end mid-stream)."""
        self._call(self._drop, self.jobs[job_id], status)

    def job(self, job_id: str | None = None) -> FakeJob:
        """A job by id, or the last one created."""
        if job_id is None:
            return list(self.jobs.values())[-1]
        return self.jobs[job_id]

    def requests_to(self, method: str, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(interval)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._loop is not None, "server not started"

        async def run() -> None:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                await result

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    # ------------------------------------------------------------ job life (event loop)

    async def _notify(self, job: FakeJob) -> None:
        assert job.cond is not None
        async with job.cond:
            job.cond.notify_all()

    async def _set_stage(self, job: FakeJob, stage: str, message: str | None = None) -> None:
        if job.stage in TERMINAL:
            return
        job.stage, job.message = stage, message
        if stage == "RUNNING" and job.started_at is None:
            job.started_at = time.time()
            job.events.append({"data": f"===== Job started at {now_iso()} =====", "timestamp": now_iso()})
        if stage in TERMINAL:
            job.finished_at = time.time()
            if job.task is not None and job.task is not asyncio.current_task():
                job.task.cancel()
        await self._notify(job)

    async def _emit(self, job: FakeJob, lines: tuple[str, ...]) -> None:
        for line in lines:
            job.events.append({"data": line, "timestamp": now_iso()})
        await self._notify(job)

    async def _drop(self, job: FakeJob, status: int | None) -> None:
        if status is not None:
            self.fail("logs", status)
        job.drop_generation += 1
        await self._notify(job)

    async def _release(self, name: str) -> None:
        self._releases.add(name)
        for job in self.jobs.values():
            await self._notify(job)

    async def _run_program(self, job: FakeJob, program: list[Step]) -> None:
        try:
            for step in program:
                if isinstance(step, Stage):
                    await self._set_stage(job, step.stage, step.message)
                elif isinstance(step, Log):
                    await self._emit(job, step.lines)
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Wait):
                    assert job.cond is not None
                    async with job.cond:
                        await job.cond.wait_for(lambda: step.name in self._releases or job.stage in TERMINAL)
                elif isinstance(step, Drop):
                    await self._drop(job, step.status)
                if job.stage in TERMINAL:
                    return
        except asyncio.CancelledError:
            pass

    # ------------------------------------------------------------ HTTP helpers

    def _fault(self, route: str) -> web.Response | None:
        with self._lock:
            queue = self._faults.get(route)
            if not queue:
                return None
            status, body = queue.pop(0)
        return web.json_response(body if body is not None else {"error": f"injected {status}"}, status=status)

    def _token(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

    def _authorized(self, request: web.Request) -> bool:
        token = self._token(request)
        if token is None:
            return False
        return token in self.tokens if self.tokens is not None else token.startswith("hf_")

    def _may_write(self, namespace: str) -> bool:
        return namespace in (self.user, *self.orgs)

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        body = await request.read()
        parsed: Any = None
        if body and request.content_type == "application/json":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        self.requests.append(Recorded(request.method, request.path, dict(request.query), self._token(request),
                                      parsed, body))
        if not request.path.startswith(("/cas/", "/v1/")) and not self._authorized(request):
            return web.json_response({"error": "Invalid credentials in Authorization header"}, status=401)
        return await handler(request)

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    # ------------------------------------------------------------ Hub: identity, repos, commits

    async def _whoami(self, request: web.Request) -> web.Response:
        if (fault := self._fault("whoami")) is not None:
            return fault
        return web.json_response({
            "type": "user", "id": "u-" + self.user, "name": self.user, "fullname": self.user.title(),
            "orgs": [{"type": "org", "name": o, "id": "o-" + o} for o in self.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "fake", "role": "write"}},
        })

    async def _create_repo(self, request: web.Request) -> web.Response:
        if (fault := self._fault("create_repo")) is not None:
            return fault
        body = json.loads(await request.read())
        namespace = body.get("organization") or self.user
        repo_type = body.get("type") or "model"
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.url}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        if not self._may_write(namespace):
            return self._error(403, f"You don't have the rights to create a repo under {namespace}")
        key = f"{repo_type}s/{repo_id}"
        if key in self.repos:
            return web.json_response({"error": "You already created this repo", "url": url}, status=409)
        private = body.get("private")
        if private is None:
            private = body.get("visibility") == "private"
        self.repos[key] = FakeRepo(repo_id, repo_type, bool(private))
        return web.json_response({"url": url, "name": repo_id, "id": repo_id})

    def _repo(self, request: web.Request) -> FakeRepo | None:
        m = request.match_info
        return self.repos.get(f"{m['rtype']}/{m['ns']}/{m['name']}")

    async def _repo_info(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        return web.json_response({
            "id": repo.repo_id, "private": repo.private, "sha": repo.commits[-1]["oid"] if repo.commits else None,
            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
        })

    async def _preupload(self, request: web.Request) -> web.Response:
        if (fault := self._fault("preupload")) is not None:
            return fault
        if self._repo(request) is None:
            return self._error(404, "Repository not found")
        body = json.loads(await request.read())
        return web.json_response({"files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in body["files"]
        ]})

    async def _commit(self, request: web.Request) -> web.Response:
        if (fault := self._fault("commit")) is not None:
            return fault
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        header: dict[str, Any] = {}
        changed: list[str] = []
        for raw in (await request.read()).splitlines():
            if not raw.strip():
                continue
            item = json.loads(raw)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                repo.files[value["path"]] = base64.b64decode(value["content"])
                changed.append(value["path"])
            elif key == "deletedFile":
                repo.files.pop(value["path"], None)
                changed.append(value["path"])
            else:
                return self._error(400, f"the fake does not support commit operation {key!r}")
        oid = hashlib.sha1(json.dumps([header, changed, len(repo.commits)]).encode()).hexdigest()
        repo.commits.append({"oid": oid, "summary": header.get("summary", ""), "files": changed})
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return web.json_response({"commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{oid}",
                                  "commitOid": oid, "pullRequestUrl": None})

    # ------------------------------------------------------------ Hub: buckets + minimal Xet CAS

    async def _create_bucket(self, request: web.Request) -> web.Response:
        if (fault := self._fault("bucket")) is not None:
            return fault
        m = request.match_info
        bucket_id = f"{m['ns']}/{m['name']}"
        url = f"{self.url}/buckets/{bucket_id}"
        if bucket_id in self.buckets:
            return web.json_response({"error": "bucket exists", "url": url}, status=409)
        body = json.loads(await request.read() or b"{}")
        self.buckets[bucket_id] = FakeBucket(bucket_id, body.get("visibility") == "private")
        return web.json_response({"url": url, "id": bucket_id, "name": m["name"]})

    async def _xet_token(self, request: web.Request) -> web.Response:
        return web.json_response({"accessToken": "xet-fake", "exp": int(time.time()) + 3600, "casUrl": f"{self.url}/cas"})

    async def _cas(self, request: web.Request) -> web.Response:
        path = request.path
        if "/chunks/" in path:
            return web.Response(status=404)  # no global dedup
        if "/xorbs/" in path:
            self.xorbs[path.rsplit("/", 1)[-1]] = await request.read()
            return web.json_response({"was_inserted": True})
        if path.endswith("/v1/shards"):
            return web.json_response({"result": 1})
        return web.Response(status=404)  # xorb grants, v2 shards: hf_xet falls back to the v1 routes

    async def _bucket_batch(self, request: web.Request) -> web.Response:
        m = request.match_info
        bucket = self.buckets.get(f"{m['ns']}/{m['name']}")
        if bucket is None:
            return self._error(404, "Bucket not found")
        for raw in (await request.read()).splitlines():
            if raw.strip():
                op = json.loads(raw)
                if op["type"] == "addFile":
                    bucket.files[op["path"]] = op.get("xetHash") or ""
                elif op["type"] == "deleteFile":
                    bucket.files.pop(op["path"], None)
        return web.json_response({"failed": []})

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _validate_yaml(self, request: web.Request) -> web.Response:
        return web.json_response({"errors": [], "warnings": []})

    # ------------------------------------------------------------ Jobs

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        spec = job.spec
        end = job.finished_at or time.time()
        durations = {
            "schedulingSecs": int((job.started_at or end) - job.created_at),
            "runningSecs": int(end - job.started_at) if job.started_at else None,
            "totalSecs": int(end - job.created_at),
        }
        return {
            "id": job.id, "createdAt": _iso(job.created_at), "startedAt": _iso(job.started_at),
            "finishedAt": _iso(job.finished_at), "dockerImage": spec.get("dockerImage"), "spaceId": spec.get("spaceId"),
            "command": spec.get("command"), "arguments": spec.get("arguments"), "environment": spec.get("environment"),
            "secrets": {k: None for k in spec.get("secrets") or {}}, "flavor": spec.get("flavor"),
            "labels": spec.get("labels"), "volumes": spec.get("volumes"),
            "timeoutSeconds": spec.get("timeoutSeconds"),
            "status": {"stage": job.stage, "message": job.message},
            "durations": durations,
            "owner": {"id": "u-" + job.namespace, "name": job.namespace, "type": "user"},
            "initiator": {"type": "user", "id": "u-" + self.user, "name": self.user},
        }

    def _find_job(self, request: web.Request) -> FakeJob | None:
        job = self.jobs.get(request.match_info["job_id"])
        return job if job is not None and job.namespace == request.match_info["ns"] else None

    async def _hardware(self, request: web.Request) -> web.Response:
        if (fault := self._fault("hardware")) is not None:
            return fault
        return web.json_response([
            {"name": name, "prettyName": name, "cpu": "8 vCPU", "ram": "32 GB", "ephemeralStorage": "100 GB",
             "accelerator": None, "unitCostMicroUSD": round(price / 60 * 1e6), "unitCostUSD": price / 60,
             "unitLabel": "minute"}
            for name, price in HARDWARE.items()
        ])

    async def _run_job(self, request: web.Request) -> web.Response:
        if (fault := self._fault("run_job")) is not None:
            return fault
        namespace = request.match_info["ns"]
        if not self._may_write(namespace):
            return self._error(403, f"You can't run jobs in {namespace}")
        spec = json.loads(await request.read())
        if spec.get("flavor") not in HARDWARE:
            return self._error(400, f"Invalid flavor {spec.get('flavor')!r}")
        job = FakeJob(id=secrets.token_hex(12), namespace=namespace, spec=spec, cond=asyncio.Condition())
        self.jobs[job.id] = job
        program = self.next_programs.pop(0) if self.next_programs else list(self.program)
        job.task = asyncio.get_running_loop().create_task(self._run_program(job, program))
        return web.json_response(self._job_json(job))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        return web.json_response([self._job_json(j) for j in self.jobs.values() if j.namespace == ns])

    async def _inspect(self, request: web.Request) -> web.Response:
        if (fault := self._fault("inspect")) is not None:
            return fault
        job = self._find_job(request)
        if job is None:
            return self._error(404, "Job not found")
        return web.json_response(self._job_json(job))

    async def _cancel(self, request: web.Request) -> web.Response:
        if (fault := self._fault("cancel")) is not None:
            return fault
        job = self._find_job(request)
        if job is None:
            return self._error(404, "Job not found")
        if job.stage not in TERMINAL:
            if job.task is not None:
                job.task.cancel()

            async def later() -> None:
                await asyncio.sleep(self.cancel_delay)
                await self._set_stage(job, "CANCELED")

            asyncio.get_running_loop().create_task(later())
        return web.json_response({})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        if (fault := self._fault("logs")) is not None:
            return fault
        job = self._find_job(request)
        if job is None:
            return self._error(404, "Job not found")
        assert job.cond is not None
        job.streams_opened += 1
        generation = job.drop_generation
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            return await self._stream_logs(request, response, job, generation)
        except ConnectionError:  # the client went away (a killed follower)
            return response

    async def _stream_logs(self, request: web.Request, response: web.StreamResponse, job: FakeJob,
                           generation: int) -> web.StreamResponse:
        assert job.cond is not None
        tail = request.query.get("tail")
        index = max(0, len(job.events) - int(tail)) if tail is not None else 0
        while True:
            while index < len(job.events):
                await response.write(f"data: {json.dumps(job.events[index])}\n\n".encode())
                index += 1
            if job.stage in TERMINAL:
                break
            if job.drop_generation != generation:
                assert request.transport is not None
                request.transport.close()  # mid-stream cut: no terminating chunk
                return response
            timed_out = False
            async with job.cond:
                if index >= len(job.events) and job.stage not in TERMINAL and job.drop_generation == generation:
                    try:
                        await asyncio.wait_for(job.cond.wait(), timeout=self.keepalive)
                    except asyncio.TimeoutError:
                        timed_out = True
            if timed_out:
                await response.write(b": keep-alive\n\n")
        await response.write_eof()
        return response

    async def _fallback(self, request: web.Request) -> web.Response:
        self.unhandled.append(f"{request.method} {request.path}")
        return self._error(404, f"the fake has no route for {request.method} {request.path}")

    # ------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record], client_max_size=1 << 30)
        r = app.router
        r.add_get("/api/whoami-v2", self._whoami)
        r.add_post("/api/repos/create", self._create_repo)
        r.add_post("/api/validate-yaml", self._validate_yaml)
        r.add_get("/api/jobs/hardware", self._hardware)
        r.add_post("/api/jobs/{ns}", self._run_job)
        r.add_get("/api/jobs/{ns}", self._list_jobs)
        r.add_get("/api/jobs/{ns}/{job_id}", self._inspect)
        r.add_post("/api/jobs/{ns}/{job_id}/cancel", self._cancel)
        r.add_get("/api/jobs/{ns}/{job_id}/logs", self._logs)
        r.add_post("/api/buckets/{ns}/{name}", self._create_bucket)
        r.add_get("/api/buckets/{ns}/{name}/xet-write-token", self._xet_token)
        r.add_post("/api/buckets/{ns}/{name}/batch", self._bucket_batch)
        r.add_route("*", "/cas/{tail:.*}", self._cas)
        r.add_post("/v1/telemetry", self._ok)
        rtype = "{rtype:models|datasets|spaces}"
        r.add_get(f"/api/{rtype}/{{ns}}/{{name}}", self._repo_info)
        r.add_post(f"/api/{rtype}/{{ns}}/{{name}}/preupload/{{rev}}", self._preupload)
        r.add_post(f"/api/{rtype}/{{ns}}/{{name}}/commit/{{rev}}", self._commit)
        r.add_route("*", "/{tail:.*}", self._fallback)
        return app

    def start(self) -> FakeHFJobsServer:
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

        self._thread = threading.Thread(target=run, name="fake-hf-jobs", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake HF Jobs server did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, shutdown_timeout=0.2)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        await self._stop.wait()
        for job in self.jobs.values():  # end the open log streams
            if job.stage not in TERMINAL:
                await self._set_stage(job, "CANCELED", "fake server stopped")
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeHFJobsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
