"""An evaluation whose process was killed does not stay "running" forever: on this host, a record whose
evaluating process is gone (or whose pid now belongs to another process) reads as failed, interrupted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

from core.evaluate import evalfolder as ef
from core.project import Project

ROOT = Path(__file__).resolve().parent.parent


def _record(eval_id: str, **owner) -> ef.EvalRecord:
    return ef.EvalRecord(eval_id=eval_id, created_at=datetime(2025, 1, 1, tzinfo=timezone.utc), eval_set_hash="h",
                         base=ef.ModelRef(spec="b", kind="hub", model="b"),
                         candidate=ef.ModelRef(spec="c", kind="hub", model="c"), **owner)


def test_a_killed_evaluation_reads_as_interrupted(projects_root: Path) -> None:
    Project.create("Evals", task="sort recipes by cuisine", root=projects_root)
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from datetime import datetime, timezone
        from core.evaluate import evalfolder as ef
        from core.project import Project
        p = Project.open("evals", root={str(projects_root)!r})
        rec = ef.EvalRecord(eval_id="e-killed", created_at=datetime.now(timezone.utc), eval_set_hash="h",
                            base=ef.ModelRef(spec="b", kind="hub", model="b"),
                            candidate=ef.ModelRef(spec="c", kind="hub", model="c"), **ef.owner_fields())
        ef.write_record(p, rec)
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    p = Project.open("evals", root=projects_root)
    assert ef.read_record(p, "e-killed").status == "running"  # still at work
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rec = ef.read_record(p, "e-killed")
    assert rec.status == "failed" and "interrupted" in rec.failure_reason and str(proc.pid) in rec.failure_reason
    assert "evaluate again" in rec.failure_reason
    assert [r.status for r in ef.list_evals(p)] == ["failed"]
    assert 'status = "running"' in (ef.eval_dir(p, "e-killed") / ef.RECORD).read_text()  # reading wrote nothing


def test_a_reused_pid_is_not_the_evaluation(projects_root: Path) -> None:
    p = Project.create("Reuse", task="sort recipes by cuisine", root=projects_root)
    owner = ef.owner_fields()
    ef.write_record(p, _record("e-reused", **{**owner, "pid_started": (owner["pid_started"] or 0) + 1}))
    assert ef.read_record(p, "e-reused").status == "failed"
    ef.write_record(p, _record("e-alive", **owner))
    assert ef.read_record(p, "e-alive").status == "running"


def test_another_host_or_no_pid_is_left_as_it_is(projects_root: Path) -> None:
    p = Project.create("Hosts", task="sort recipes by cuisine", root=projects_root)
    ef.write_record(p, _record("e-far", pid=999_999_999, host=socket.gethostname() + "-elsewhere"))
    ef.write_record(p, _record("e-old"))  # written before records carried their process
    assert ef.read_record(p, "e-far").status == "running"
    assert ef.read_record(p, "e-old").status == "running"
