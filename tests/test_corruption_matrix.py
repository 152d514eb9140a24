"""Hand edits are never lost: every artifact x every corruption x every command that touches it.

Each case copies ``projects/billing-support``, corrupts one file, and runs each command that reads it through
the real CLI in one subprocess (a small driver calls ``core.cli.main`` once per command, so an interpreter
starts once per case, not once per command). For every command: no traceback, a non-zero exit, the file
named on stderr, and the corrupted file left exactly as it was (a directory still a directory).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "projects" / "billing-support"
NAME = "billing-support"
# the example's evaluation (the first with a decision)
EVAL_DIR = next((f"evals/{p.parent.name}" for p in sorted(EXAMPLE.glob("evals/*/decision.toml"))), "evals/none")
# the example's training run: set running (its process long gone) before it is corrupted, so that `runs` and
# `cancel` poll it and would store its new status
RUN_DIR = next((f"runs/{p.parent.name}" for p in sorted(EXAMPLE.glob("runs/*/run.toml"))), "runs/none")

# the driver: runs each job of the JSON file argv[1] ({"root", "target", "argv"} each) through the CLI, in
# order, with TUNESMITH_PROJECTS set to the job's root, and prints one JSON line: per job the exit code,
# stderr (an exception that escapes is a traceback there) and whether the corrupted file (target) changed;
# a changed file is put back, so that the next command meets the same corruption
DRIVER = r"""
import io, json, os, shutil, sys, traceback
from pathlib import Path
from core.cli import main

def snap(target):
    if target.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in target.iterdir()))
    return target.read_bytes() if target.exists() else None

def restore(target, before):
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    if isinstance(before, bytes):
        target.write_bytes(before)
    elif before is not None:
        target.mkdir()
        for name in before[4:].split(","):
            if name:
                (target / name).write_text("a directory where a file should be\n")

out = []
for job in json.loads(Path(sys.argv[1]).read_text()):
    target = Path(job["target"])
    before = snap(target)
    os.environ["TUNESMITH_PROJECTS"] = job["root"]
    err, so = io.StringIO(), io.StringIO()
    real = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = so, err
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    try:
        rc = main(job["argv"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        err.write(traceback.format_exc())
        rc = "exception"
    finally:
        sys.stdout, sys.stderr, sys.stdin = real
    changed = snap(target) != before
    if changed:
        restore(target, before)
    out.append({"rc": rc, "stderr": err.getvalue(), "changed": changed})
print(json.dumps(out))
"""

COMMANDS: dict[str, list[str]] = {
    "boundaries --approve": ["boundaries", NAME, "--approve"],
    "boundaries --add": ["boundaries", NAME, "--add", "will", "explain a refund on an annual plan"],
    "evalset --approve": ["evalset", NAME, "--approve"],
    "review evalset": ["review", NAME, "evalset"],
    "export": ["export", NAME],
    "decide": ["decide", NAME],
    "runs": ["runs", NAME],
    "cancel": ["cancel", NAME, "latest"],
}

# artifact -> (path in the project, commands that read it)
ARTIFACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scope_boundaries.toml": ("knowledge/scope_boundaries.toml", ("boundaries --approve", "boundaries --add", "export")),
    "eval_review.toml": ("knowledge/eval_review.toml", ("evalset --approve", "review evalset", "export")),
    "eval_set.parquet": ("knowledge/eval_set.parquet", ("evalset --approve", "review evalset", "export")),
    "generation_report.toml": ("data/generation_report.toml", ("export",)),
    "decision.toml": (f"{EVAL_DIR}/decision.toml", ("decide", "export")),
    "comparison_analysis.toml": (f"{EVAL_DIR}/comparison_analysis.toml", ("decide",)),
    "run.toml": (f"{RUN_DIR}/run.toml", ("runs", "cancel")),
}
CORRUPTIONS = ("wrong_type", "missing_field", "newer_version", "garbage", "empty", "directory")
# known gaps (none now: decide reads decision.toml and comparison_analysis.toml before replacing them)
KNOWN: set[tuple[str, str]] = set()


# ---------------------------------------------------------------- corruptions


def _toml_line(text: str, pattern: str) -> re.Match[str]:
    m = re.search(pattern, text, re.MULTILINE)
    assert m, f"no line matching {pattern!r} to corrupt"
    return m


def _corrupt_toml(path: Path, how: str) -> None:
    text = path.read_text(encoding="utf-8")
    # a top-level scalar other than schema_version and the example's optional illustration mark (absent on
    # a real project, so leaving it out is no corruption): a number or a boolean (before the first table)
    head = text.split("\n[", 1)[0]
    m = _toml_line(head, r'^(?!schema_version|illustration)(\w+) = (true|false|-?[0-9][0-9.e+-]*|"[^"\n]*")$')
    if how == "wrong_type":  # a number or boolean written as a string; a string written as a number
        value = "7" if m.group(2).startswith('"') else f'"{m.group(2)}"'
        text = text[:m.start()] + f"{m.group(1)} = {value}" + text[m.end():]
    elif how == "missing_field":
        text = text[:m.start()] + text[m.end() + 1:]
    elif how == "newer_version":
        text = re.sub(r"^schema_version = 1$", "schema_version = 99", text, count=1, flags=re.MULTILINE)
        assert "schema_version = 99" in text
    path.write_text(text, encoding="utf-8")


def _corrupt_parquet(path: Path, how: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = dict(table.schema.metadata or {})
    if how == "wrong_type":
        table = table.set_column(table.schema.get_field_index("input"), "input",
                                 pa.array(list(range(table.num_rows)), pa.int64()))
    elif how == "missing_field":
        table = table.drop(["reference"])
    elif how == "newer_version":
        meta[b"tunesmith.schema_version"] = b"99"
    pq.write_table(table.replace_schema_metadata(meta), path)


def set_running(project: Path) -> None:
    """The example's run as if its process had died while training: `runs` and `cancel` then write it back."""
    path = project / RUN_DIR / "run.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('status = "completed"', 'status = "running"\npid = 999999999', 1)
    assert 'status = "running"' in text
    path.write_text(text, encoding="utf-8")


def corrupt(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"\x00\xff\xfe garbage [[[ = \x80\x81 not a tunesmith file\n")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "directory":
        path.unlink()
        path.mkdir()
        (path / "stray.txt").write_text("a directory where a file should be\n")
    elif path.suffix == ".parquet":
        _corrupt_parquet(path, how)
    else:
        _corrupt_toml(path, how)


# ---------------------------------------------------------------- the matrix


CASES = [(artifact, how) for artifact in ARTIFACTS for how in CORRUPTIONS]
PARALLEL = 3


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], dict]:
    """Every case prepared in its own projects folder, then run: one driver per corruption, a few at a time
    (the interpreter and its imports start once per driver, not once per command)."""
    base = tmp_path_factory.mktemp("corruption")
    groups: dict[str, list[dict]] = {how: [] for how in CORRUPTIONS}
    keys: dict[str, list[tuple[str, str, str]]] = {how: [] for how in CORRUPTIONS}

    for artifact, how in CASES:
        rel, commands = ARTIFACTS[artifact]
        root = base / f"{artifact}-{how}"
        shutil.copytree(EXAMPLE, root / NAME, ignore=shutil.ignore_patterns(".lock", ".cache", "exports"))
        set_running(root / NAME)
        target = root / NAME / rel
        corrupt(target, how)
        for command in commands:
            groups[how].append({"root": str(root), "target": str(target), "argv": COMMANDS[command]})
            keys[how].append((artifact, how, command))
    # the same commands on an intact copy: each succeeds there, so a failure above is the corruption's
    root = base / "intact"
    shutil.copytree(EXAMPLE, root / NAME, ignore=shutil.ignore_patterns(".lock", ".cache", "exports"))
    set_running(root / NAME)
    groups["intact"], keys["intact"] = [], []
    for command, argv in COMMANDS.items():
        groups["intact"].append({"root": str(root), "target": str(root / NAME / "project.toml"), "argv": argv})
        keys["intact"].append(("intact", "", command))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    for key in list(env):
        if any(w in key for w in ("API_KEY", "TOKEN", "SECRET")):
            env.pop(key)  # nothing here may reach a provider
    results: dict[tuple[str, str, str], dict] = {}
    pending = ["intact", *CORRUPTIONS]
    while pending:
        batch, pending = pending[:PARALLEL], pending[PARALLEL:]
        procs = {}
        for how in batch:
            jobs = base / f"jobs-{how}.json"
            jobs.write_text(json.dumps(groups[how]))
            procs[how] = subprocess.Popen([sys.executable, "-c", DRIVER, str(jobs)], cwd=REPO, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for how, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0 and "Traceback" not in stderr, stderr
            for key, res in zip(keys[how], json.loads(stdout.strip().splitlines()[-1])):
                results[key] = res
    return results


CHECKS = [(a, h, c) for a, h in CASES for c in ARTIFACTS[a][1]]


@pytest.mark.parametrize(("artifact", "how", "command"), CHECKS, ids=[f"{a}-{h}-{c}" for a, h, c in CHECKS])
def test_corrupted_file_stops_the_command_and_is_kept(matrix: dict, artifact: str, how: str, command: str) -> None:
    res = matrix[(artifact, how, command)]
    name = Path(ARTIFACTS[artifact][0]).name
    why = []
    if res["rc"] == "exception" or "Traceback" in res["stderr"]:
        why.append("a traceback")
    elif res["rc"] == 0:
        why.append("exit code 0")
    if name not in res["stderr"]:
        why.append(f"{name} not named on stderr")
    if res["changed"]:
        why.append("the corrupted file was rewritten")
    if why and (artifact, command) in KNOWN:
        pytest.xfail(f"known gap (core/evaluate/decision.py): {', '.join(why)}")
    assert not why, f"{command} on {artifact} ({how}): {', '.join(why)}\nstderr: {res['stderr'].strip()[-800:]}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_succeeds_on_the_intact_project(matrix: dict, command: str) -> None:
    res = matrix[("intact", "", command)]
    assert res["rc"] == 0, res["stderr"]
    assert "Traceback" not in res["stderr"]


# ---------------------------------------------------------------- an edited frozen eval set


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    from core.cli import main

    monkeypatch.setenv("TUNESMITH_PROJECTS", str(tmp_path / "projects"))
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().err


@pytest.fixture()
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "projects" / NAME
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".lock", ".cache", "exports"))
    return folder


def _edit_eval_set(folder: Path, keep: int | None = None) -> None:
    import pyarrow.parquet as pq

    path = folder / "knowledge" / "eval_set.parquet"
    table = pq.read_table(path)
    if keep is not None:
        table = table.slice(0, keep)
    else:
        rows = table.to_pylist()
        rows[0]["reference"] += " (edited by hand)"
        import pyarrow as pa

        table = pa.Table.from_pylist(rows, schema=table.schema)
    pq.write_table(table, path)


def test_an_edited_frozen_eval_set_is_approved_again_only_with_force(example: Path, tmp_path: Path, monkeypatch,
                                                                      capsys) -> None:
    review = example / "knowledge" / "eval_review.toml"
    _edit_eval_set(example)
    before = review.read_bytes()
    rc, err = _cli(tmp_path, monkeypatch, capsys, "evalset", NAME, "--approve")
    assert rc != 0
    assert "eval_set.parquet changed after it was approved" in err and "--approve --force" in err
    assert review.read_bytes() == before

    rc, err = _cli(tmp_path, monkeypatch, capsys, "evalset", NAME, "--approve", "--force")
    assert rc == 0, err
    from core.extract.review import verify_frozen
    from core.project import Project

    project = Project.open(NAME)
    verify_frozen(project)  # frozen again, on the edited rows (not rebuilt: the edit is there)
    from core.extract.evalset import load_eval_set

    assert load_eval_set(project)[0].reference.endswith("(edited by hand)")


@pytest.mark.parametrize("force", [False, True])
def test_an_empty_eval_set_is_never_approved(example: Path, tmp_path: Path, monkeypatch, capsys, force: bool) -> None:
    review = example / "knowledge" / "eval_review.toml"
    _edit_eval_set(example, keep=0)
    before = review.read_bytes()
    rc, err = _cli(tmp_path, monkeypatch, capsys, "evalset", NAME, "--approve", *(["--force"] if force else []))
    assert rc == 2
    assert "eval_set.parquet" in err and "no examples" in err
    assert review.read_bytes() == before


# ---------------------------------------------------------------- a running run with a field left out


@pytest.mark.parametrize("command", ["runs", "cancel"])
def test_a_running_run_missing_a_defaulted_field_is_not_rewritten(example: Path, tmp_path: Path, monkeypatch,
                                                                  capsys, command: str) -> None:
    """A lenient read would fill ``use_lora`` with its default and `runs`/`cancel` would store the polled
    status over the file, losing the hand edit; a strict read stops the command with the field named."""
    set_running(example)
    path = example / RUN_DIR / "run.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("use_lora = true\n", ""), encoding="utf-8")
    before = path.read_bytes()
    rc, err = _cli(tmp_path, monkeypatch, capsys, *COMMANDS[command])
    assert rc != 0
    assert "run.toml" in err and "use_lora" in err
    assert path.read_bytes() == before
