"""The local training backend with its runner called in this process.

The pipeline matrix trains dozens of tiny models; as separate processes each would spend most of its time
importing torch and TRL. The runner, its config, the run folder and every file it writes are the real
ones (core/train/runner.py ``train``); only the detached subprocess is skipped. Tests of the backend
itself (re-attach, cancel, kill -9) use the real LocalBackend.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from core.train import runfolder as rf
from core.train.backends.local import LocalBackend


class InProcessBackend(LocalBackend):
    def submit(self, folder: Path, run):  # type: ignore[override]
        from core.train import runner

        folder = Path(folder)
        config = json.loads((folder / rf.CONFIG_JSON).read_text(encoding="utf-8"))
        run.pid = None
        run.status = "running"
        run.started_at = datetime.now(timezone.utc).replace(microsecond=0)
        run.output_model = str((folder / rf.MODEL_DIR).resolve())
        runner.train(config, run_dir=folder)
        return self.poll(folder, run)


def install(monkeypatch=None) -> None:
    """Every 'local' training run of this process goes through :class:`InProcessBackend` (until the test
    ends, with pytest's ``monkeypatch``; for good in a worker process)."""
    from core.train import service

    if monkeypatch is not None:
        monkeypatch.setitem(service._INSTANCES, "local", InProcessBackend())
    else:
        service._INSTANCES["local"] = InProcessBackend()
