"""Input at the edges of the CLI: bytes that are not UTF-8, a closed stdin, a full disk: one clear line,
never a traceback, nothing typed lost."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNESMITH_")}
    return {**env, "TUNESMITH_PROJECTS": str(root), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _run(root: Path, args: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, env=_env(root),
                          cwd=ROOT, timeout=120, **kw)


@pytest.mark.parametrize("args, option", [
    (["new", "Recipes", "--task", b"sort recipes \xff\xfe by cuisine"], "--task"),
    (["new", b"Rec\xffipes", "--task", "sort recipes by cuisine"], "NAME"),
])
def test_arguments_that_are_not_utf8_are_named(tmp_path: Path, args: list, option: str) -> None:
    r = _run(tmp_path, args)
    err = r.stderr.decode()
    assert r.returncode == 2 and f"{option}: not valid UTF-8 text" in err and "Traceback" not in err
    assert not (tmp_path / "recipes").exists()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    r = _run(tmp_path, ["new", "Recipes", "--task", "sort recipes by cuisine"])
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_an_answer_in_another_encoding_is_kept_marked(project: Path) -> None:
    r = _run(project, ["interview", "recipes"], input=b"1\ncaf\xe9 owners \xff\n")
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode()
    text = (project / "recipes" / "knowledge" / "interview.toml").read_text(encoding="utf-8")
    assert "caf\ufffd owners \ufffd" in text


@pytest.mark.parametrize("command", ["interview", "spot-check", "rate"])
def test_a_closed_stdin_reads_as_empty_input(project: Path, command: str) -> None:
    r = subprocess.run(["bash", "-c", f'"{sys.executable}" -m core.cli {command} recipes <&-'],
                       capture_output=True, env=_env(project), cwd=ROOT, timeout=120)
    assert b"Traceback" not in r.stderr, r.stderr.decode()
    assert r.returncode in (0, 1, 2, 3)


def test_a_full_disk_on_stdout_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from core import cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "_check_text_arguments", lambda args: None)
    parser = cli.build_parser()
    args = parser.parse_args(["list"])
    monkeypatch.setattr(args, "func", full, raising=False)
    monkeypatch.setattr(parser, "parse_args", lambda argv: args)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main(["list"]) == 1
    assert "cannot write: No space left on device" in capsys.readouterr().err
