"""A local fake of the Hugging Face Hub's file-download endpoints, for tests that drive the real
huggingface_hub client (``snapshot_download`` / ``hf_hub_download``) through ``HF_ENDPOINT``::

    with FakeHubFiles() as hub:
        hub.add_folder("alice/bot", tiny_model_folder)          # every file of the folder, at one commit
        hub.add("org/gated", {"config.json": b"{}"}, gated=True)  # 403 GatedRepo without a valid token
        snapshot_download("alice/bot", endpoint=hub.url, cache_dir=...)

Routes (every request is recorded in ``hub.requests`` as (method, path, had_token)):

    GET       /api/models/{repo}[/revision/{rev}]          repo info: id, sha, siblings (with sizes)
    GET       /api/models/{repo}/tree/{rev}[/{path}]       the file list (one page; weights as LFS entries)
    HEAD/GET  /{repo}/resolve/{rev}/{path}                 a file, with X-Repo-Commit, ETag, Content-Length

A repo that does not exist answers 404 ``X-Error-Code: RepoNotFound``; a private one too without a
token in ``hub.tokens``; a gated one shows its metadata to anyone but answers its files with 403
``X-Error-Code: GatedRepo`` without one (as the Hub does). The files'
bytes are served whole (no Range, no Xet): enough for the client's plain-HTTP download path.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

LFS_SUFFIXES = (".safetensors", ".bin", ".model", ".pt", ".gguf")


@dataclass
class FakeModelRepo:
    repo_id: str
    files: dict[str, bytes]
    sha: str
    private: bool = False
    gated: bool = False


@dataclass
class FakeHubFiles:
    tokens: tuple[str, ...] = ("hf_fake_read_token_0123456789abcdef",)
    host: str = "127.0.0.1"
    port: int = 0
    repos: dict[str, FakeModelRepo] = field(default_factory=dict)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ content

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, repo_id: str, files: dict[str, bytes], *, private: bool = False, gated: bool = False) -> FakeModelRepo:
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        repo = FakeModelRepo(repo_id, dict(files), digest.hexdigest(), private=private, gated=gated)
        with self._lock:
            self.repos[repo_id] = repo
        return repo

    def add_folder(self, repo_id: str, folder: Path, **kw: Any) -> FakeModelRepo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes()
                 for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.name.startswith(".")}
        return self.add(repo_id, files, **kw)

    def downloads(self) -> list[str]:
        """Paths of the files fetched with GET (resolve route), in order."""
        return [p.split("/resolve/", 1)[1].split("/", 1)[1] for m, p, _ in self.requests
                if m == "GET" and "/resolve/" in p]

    # ------------------------------------------------------------ HTTP

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status,
                                 headers={"X-Error-Code": code, "X-Error-Message": message})

    def _access(self, request: web.Request, repo_id: str, *, file: bool = False
                ) -> tuple[FakeModelRepo | None, web.Response | None]:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        with self._lock:
            self.requests.append((request.method, request.path, bool(token)))
            repo = self.repos.get(repo_id)
        if repo is None or (repo.private and token not in self.tokens):
            return None, self._error(404, "RepoNotFound", f"Repository Not Found for url: {request.url}.")
        if file and repo.gated and token not in self.tokens:  # a gated repo's metadata is public, its files are not
            return None, self._error(403, "GatedRepo", f"Access to model {repo_id} is restricted. You must have "
                                                       f"access to it and be authenticated to access it.")
        return repo, None

    @staticmethod
    def _etag(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _tree_entry(self, path: str, data: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": self._etag(data), "size": len(data), "pointerSize": 134}
        return entry

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = unquote(request.path)
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/"):].rstrip("/")
            if "/revision/" not in rest and "/tree/" not in rest:
                rest += "/revision/main"  # GET /api/models/{repo}: the repo info at main
            for marker in ("/revision/", "/tree/"):
                if marker in rest:
                    repo_id, _, tail = rest.partition(marker)
                    repo, err = self._access(request, repo_id)
                    if err is not None:
                        return err
                    assert repo is not None
                    rev, _, sub = tail.partition("/")
                    if rev not in ("main", repo.sha):
                        return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                    if marker == "/revision/":
                        return web.json_response({"id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.sha,
                                                  "private": repo.private, "gated": "auto" if repo.gated else False,
                                                  "siblings": [{"rfilename": f, "size": len(d)}
                                                               for f, d in sorted(repo.files.items())]})
                    prefix = f"{sub.rstrip('/')}/" if sub else ""
                    return web.json_response([self._tree_entry(f, d) for f, d in sorted(repo.files.items())
                                              if f.startswith(prefix)])
        if "/resolve/" in path:
            repo_id, _, tail = path.lstrip("/").partition("/resolve/")
            repo, err = self._access(request, repo_id, file=True)
            if err is not None:
                return err
            assert repo is not None
            rev, _, name = tail.partition("/")
            if rev not in ("main", repo.sha):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            data = repo.files.get(name)
            headers = {"X-Repo-Commit": repo.sha}
            if data is None:
                return web.Response(status=404, headers={**headers, "X-Error-Code": "EntryNotFound",
                                                         "X-Error-Message": f"{name} does not exist"})
            etag = f'"{self._etag(data)}"'
            headers.update({"ETag": etag, "Accept-Ranges": "none"})
            if name.endswith(LFS_SUFFIXES):
                headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(len(data))})
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(data))
                return web.Response(status=200, headers=headers)
            return web.Response(status=200, body=data, headers=headers)
        with self._lock:
            self.requests.append((request.method, request.path, False))
        return web.Response(status=404, text=f"no route {request.method} {request.path}")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeHubFiles:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._serve(ready))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-hub-files", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Hub did not start")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._stop = asyncio.Event()
        ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeHubFiles:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
