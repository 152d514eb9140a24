"""`tunesmith serve`: the app in a browser through textual-serve, on loopback only.

The live test starts the real server in a subprocess on a free 127.0.0.1 port, waits (bounded) for
the page, then opens the web socket a browser would and reads the app's first frame from it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.cli import main
from core.commands import serve

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(rb"\x1b\[[0-9;?$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
DEADLINE_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", "replace")


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "TUNESMITH_PROJECTS": str(tmp_path / "projects"), "NO_PROXY": "*"}
    return subprocess.Popen([sys.executable, "-m", "core.cli", "serve", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> str:
    """SIGTERM (the server exits gracefully and stops its app sessions), then the whole group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything the sessions left behind
    except ProcessLookupError:
        pass
    out, _ = proc.communicate(timeout=10)
    return out.decode("utf-8", "replace")


async def first_frame(url: str, timeout: float) -> str:
    """What the app draws first, as a browser's web socket receives it (escape codes removed)."""
    import aiohttp

    buf = b""
    async with aiohttp.ClientSession(trust_env=False) as session:
        async with session.ws_connect(url) as ws:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    msg = await asyncio.wait_for(ws.receive(), max(0.1, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if msg.type == aiohttp.WSMsgType.BINARY:
                    buf += msg.data
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    break
                text = ANSI.sub(b"", buf).decode("utf-8", "replace")
                if "tunesmith" in text and "projects" in text:
                    break
            await ws.send_json(["stdin", "\x11"])  # ctrl+q: the app quits
    return ANSI.sub(b"", buf).decode("utf-8", "replace")


def test_serves_the_app_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, "--port", str(port))
    try:
        status, html = 0, ""
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            assert proc.poll() is None, stop(proc)
            try:
                status, html = get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, f"no answer on 127.0.0.1:{port} within {DEADLINE_S:.0f} s"
        assert "textual" in html.lower() and f"ws://127.0.0.1:{port}/ws" in html
        # a browser's session: the web socket starts the TUI and relays its first frame
        frame = asyncio.run(first_frame(f"http://127.0.0.1:{port}/ws?width=80&height=24",
                                        max(1.0, end - time.monotonic())))
        assert "tunesmith" in frame and "projects" in frame, frame[:500]
    finally:
        out = stop(proc)
    assert f"open http://127.0.0.1:{port}" in out and "Traceback" not in out, out


def test_help_says_loopback_by_default_and_that_elsewhere_exposes(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "default 127.0.0.1" in out and "exposes the app" in out and "--public-url" in out


def test_without_textual_serve_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'tunesmith[serve]'" in err and "Traceback" not in err


class FakeServer:
    made: list["FakeServer"] = []

    def __init__(self, command: str, host: str, port: int, title: str | None = None,
                 public_url: str | None = None) -> None:
        self.command, self.host, self.port, self.title, self.public_url = command, host, port, title, public_url
        self.served = False
        FakeServer.made.append(self)

    def serve(self) -> None:
        self.served = True


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> type[FakeServer]:
    import textual_serve.server

    FakeServer.made = []
    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    monkeypatch.delenv("PYTHONPATH", raising=False)  # cmd_serve sets it for the app sessions
    return FakeServer


def test_defaults_and_the_command_each_session_runs(fake_server, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve"]) == 0
    (srv,) = fake_server.made
    assert srv.served and srv.host == "127.0.0.1" and srv.port == 8000 and srv.title == "tunesmith"
    assert srv.public_url == "http://127.0.0.1:8000"
    assert srv.command.endswith(" -m core.cli") and sys.executable in srv.command
    assert str(ROOT) in os.environ["PYTHONPATH"].split(os.pathsep)  # core importable from any cwd
    assert Path(os.environ["TUNESMITH_PROJECTS"]).is_absolute()
    captured = capsys.readouterr()
    assert "open http://127.0.0.1:8000" in captured.out and "warning" not in captured.err


def test_binding_elsewhere_warns_and_public_url_is_passed(fake_server, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "9001", "--public-url", "https://ts.example.org/"]) == 0
    (srv,) = fake_server.made
    assert (srv.host, srv.port, srv.public_url) == ("0.0.0.0", 9001, "https://ts.example.org")
    assert "exposes the app" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "70000"], ["--port", "http"],
                                  ["--public-url", "ts.example.org"]])
def test_bad_arguments_exit_2(fake_server, args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main(["serve", *args])
        raise SystemExit(code)
    assert exc.value.code == 2 and not fake_server.made


def test_loopback_hosts() -> None:
    assert all(serve.is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(serve.is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))


def test_port_in_use_is_a_clear_failure(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(tmp_path, "--port", str(port))
        try:
            proc.wait(timeout=DEADLINE_S)
        finally:
            out = stop(proc)
    assert proc.returncode == 1, out
    assert f"cannot listen on 127.0.0.1:{port}" in out and "Traceback" not in out
