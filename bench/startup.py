"""Start-up time: launching the `tunesmith` TUI to its first frame, against a bare Textual app.

Each program runs under a pseudo-terminal (80x24) and is timed from launch until its output
contains a marker drawn in the first frame (the header title "tunesmith"; the bare app's one
Static); then it gets ctrl+q. The two alternate, after one unmeasured warm-up each, and the
medians are compared (goal: tunesmith <= 1.5x the bare app).

    python bench/startup.py [--runs 7] [--json] [--update-readme]

Until `python -m core.cli` exists, tunesmith is launched with `from tui.app import run_app`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
ANSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

BARE = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("bare-app-ready")

Bare().run()
"""


def tunesmith_command() -> list[str]:
    if (ROOT / "core" / "cli.py").exists():
        return [sys.executable, "-m", "core.cli"]
    return [sys.executable, "-c", "from tui.app import run_app; run_app()"]


def time_to_marker(cmd: list[str], marker: bytes, env: dict[str, str], timeout: float = 30.0) -> float:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen = b""
    elapsed: float | None = None
    try:
        while elapsed is None:
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                raise TimeoutError(f"{cmd!r} drew no {marker!r} in {timeout}s; output: {seen[-400:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"{cmd!r} exited before drawing {marker!r}: {seen[-2000:]!r}") from None
            seen += chunk
            if marker in ANSI.sub(b"", seen):
                elapsed = time.perf_counter() - start
        os.write(master, b"\x11")  # ctrl+q
        deadline = time.perf_counter() + 10
        while proc.poll() is None and time.perf_counter() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        return elapsed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def make_projects(folder: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from core.project import Project

    for name, preset in (("Support bot", "customer-support"), ("Code reviewer", "code-review"),
                         ("Writing coach", "writing-coach")):
        Project.create(name, f"A {preset} task.", preset=preset, root=folder)


def measure(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        projects = Path(tmp) / "projects"
        make_projects(projects)
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24",
               "PYTHONPATH": str(ROOT), "TUNESMITH_PROJECTS": str(projects)}
        env.pop("TEXTUAL", None)
        # an installed app runs from compiled bytecode: let both programs cache theirs (outside the repo)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        bare_cmd = [sys.executable, "-c", BARE]
        app_cmd = tunesmith_command()
        time_to_marker(bare_cmd, b"bare-app-ready", env)  # warm-up: caches, .pyc files
        time_to_marker(app_cmd, b"tunesmith", env)
        bare, app = [], []
        for _ in range(runs):
            bare.append(time_to_marker(bare_cmd, b"bare-app-ready", env))
            app.append(time_to_marker(app_cmd, b"tunesmith", env))
    return {
        "runs": runs,
        "command": " ".join(["python" if a == sys.executable else a for a in app_cmd]),
        "bare_s": bare,
        "tunesmith_s": app,
        "bare_median_s": statistics.median(bare),
        "tunesmith_median_s": statistics.median(app),
        "ratio": statistics.median(app) / statistics.median(bare),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def section(r: dict) -> str:
    ms = lambda xs: ", ".join(f"{x * 1000:.0f}" for x in xs)  # noqa: E731
    verdict = "meets" if r["ratio"] <= 1.5 else "misses"
    return (
        "## Start-up time\n\n"
        "Time from launching the TUI to its first frame (80x24 pseudo-terminal, output scanned for\n"
        "text drawn in the first frame), against a bare Textual app (one `Static`) measured in the\n"
        f"same run, {r['runs']} alternating runs each after one warm-up; medians compared.\n\n"
        "```\npython bench/startup.py --runs 7 --update-readme\n```\n\n"
        f"| program | median | runs (ms) |\n|---|---|---|\n"
        f"| bare Textual app | {r['bare_median_s'] * 1000:.0f} ms | {ms(r['bare_s'])} |\n"
        f"| `{r['command']}` | {r['tunesmith_median_s'] * 1000:.0f} ms | {ms(r['tunesmith_s'])} |\n\n"
        f"Ratio {r['ratio']:.2f}x: {verdict} the goal of at most 1.5x. "
        f"Python {r['python']}, {r['machine']}.\n"
    )


def update_readme(text: str) -> None:
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Start-up time\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    README.write_text(new.rstrip("\n") + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the section in bench/README.md")
    args = parser.parse_args()
    result = measure(max(1, args.runs))
    print(json.dumps(result, indent=2) if args.json else section(result))
    if args.update_readme:
        update_readme(section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
