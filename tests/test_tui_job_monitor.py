"""The job monitor under Pilot at 80x24: a run folder written by a thread while the screen is open.

The service (core.train.service) is replaced by a fake module in sys.modules so the tests do not
depend on a backend: its refresh reads run.toml (the run folder is the truth), its cancel records the
call and writes the canceled status the way a backend would.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from core.models.runs import TrainingRun
from core.project import Project
from core.train.runfolder import LOG, METRICS_JSONL, METRICS_PARQUET, read_run, run_dir, write_run
from screens.job_monitor import (
    JobMonitorScreen,
    cost_so_far,
    fmt_duration,
    progress,
    remaining_s,
)
from tui.app import TunesmithApp
from tui.dialogs import ConfirmDialog
from tui.widgets.log_panel import LogPanel, LogTailer, clean_lines
from tui.widgets.loss_chart import MetricsTailer, bucket_means

SERVICE = "core.train.service"


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JobMonitorScreen, "POLL_S", 0.2)


@pytest.fixture
def project(projects_root: Path) -> Project:
    return Project.create("Billing Bot", "billing support", root=projects_root)


class FakeService(types.ModuleType):
    """Stands in for core.train.service: refresh reads run.toml; cancel/plan/start are recorded."""

    def __init__(self) -> None:
        super().__init__(SERVICE)
        self.calls: list[tuple[str, str]] = []
        self.plan_calls = 0
        self.ready = True
        self.fail = False
        self.started: list[TrainingRun] = []

    def refresh(self, project: Project, run_id: str) -> TrainingRun:
        self.calls.append(("refresh", run_id))
        if self.fail:
            raise ConnectionError("the Hub is down")
        return read_run(run_dir(project, run_id))

    def get_backend(self, name: str) -> Any:
        return types.SimpleNamespace(follow=lambda folder, run: self.calls.append(("follow", run.run_id)))

    def cancel(self, project: Project, run_id: str) -> TrainingRun:
        self.calls.append(("cancel", run_id))
        folder = run_dir(project, run_id)
        run = read_run(folder).model_copy(update={"status": "canceled", "ended_at": datetime.now(timezone.utc)})
        write_run(folder, run)
        return run

    def plan_training(self, project: Project, backend: str | None = None, base_model: str | None = None) -> Any:
        self.plan_calls += 1
        check = types.SimpleNamespace(describe=lambda: "dataset check: SFT READY" if self.ready else "INCOMPATIBLE")
        return types.SimpleNamespace(ok=self.ready, check=check,
                                     render=lambda: "training plan: SFT on tiny/model\n  estimate  ~12 min; no charge")

    def start_training(self, project: Project, plan: Any) -> TrainingRun:
        run = make_run(project, "20990101-000000-sft-new1", status="running")
        self.started.append(run)
        return run


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    fake = FakeService()
    monkeypatch.setitem(sys.modules, SERVICE, fake)
    return fake


def make_run(project: Project, run_id: str, status: str = "running", *, started_ago: float = 65.0,
             created: datetime | None = None, **extra: Any) -> TrainingRun:
    now = datetime.now(timezone.utc)
    run = TrainingRun(run_id=run_id, backend=extra.pop("backend", "local"), method="sft",
                      base_model="tiny/model", status=status, created_at=created or now - timedelta(seconds=started_ago + 5),
                      started_at=now - timedelta(seconds=started_ago), config={"max_steps": 100}, **extra)
    folder = run_dir(project, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_run(folder, run)
    return run


def set_status(project: Project, run_id: str, status: str) -> None:
    folder = run_dir(project, run_id)
    write_run(folder, read_run(folder).model_copy(update={"status": status, "ended_at": datetime.now(timezone.utc)}))


def append_log(folder: Path, lines: list[str]) -> None:
    with (folder / LOG).open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def append_metrics(folder: Path, rows: list[dict]) -> None:
    with (folder / METRICS_JSONL).open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 8.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting for the screen"
        await pilot.pause(0.05)


def status_text(screen: JobMonitorScreen) -> str:
    return str(screen.status_line.visual)


def visible_log(panel: LogPanel) -> list[str]:
    return [panel.render_line(y).text.rstrip() for y in range(panel.scrollable_content_region.height)]


async def open_monitor(app: TunesmithApp, pilot, project: Project, **kw: Any) -> JobMonitorScreen:
    screen = JobMonitorScreen(project, **kw)
    app.push_screen(screen)
    await wait_for(pilot, lambda: screen.mode != "loading")
    return screen


# ---------------------------------------------------------------- the live run


async def test_streams_a_live_run_then_shows_completion(project: Project, service: FakeService) -> None:
    run = make_run(project, "20250101-120000-sft-ab12")
    folder = run_dir(project, run.run_id)
    total = 30_000
    go = threading.Event()

    def writer() -> None:  # ~100,000 lines/s in bursts of 1,000, with a metric row per burst
        go.wait(5)
        for burst in range(total // 1000):
            append_log(folder, [f"step {burst} line {burst * 1000 + i:06d} loss=1.0" for i in range(1000)])
            append_metrics(folder, [{"step": burst + 1, "loss": 2.0 - burst * 0.05,
                                     **({"eval_loss": 2.1 - burst * 0.05} if burst % 10 == 9 else {})}])
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        assert screen.mode == "run" and screen.run is not None and screen.run.run_id == run.run_id
        thread.start()
        go.set()
        panel = screen.log_panel
        await wait_for(pilot, lambda: panel.lines_ingested == total and len(screen.chart.rows) == 30)
        thread.join()
        last = f"step 29 line {total - 1:06d} loss=1.0"
        assert panel.lines[-1] == last
        assert len(panel.lines) <= panel.max_lines
        assert panel.follow and panel.is_vertical_scroll_end
        assert visible_log(panel)[-1] == last  # the newest line is on screen
        assert panel.batches < 200  # batched: far fewer writes than lines
        loss, evals = screen.chart.points()
        assert len(loss) == 30 and len(evals) == 3 and screen.chart.redraws >= 2
        text = status_text(screen)
        assert "running" in text and run.run_id in text
        assert "elapsed 1:0" in text  # started 65 s ago
        assert "step 30/100" in text and "left" in text and "loss 0.55" in text
        # 80 columns: a compact chart below the log, without pressing g; g hides it and shows it again
        assert screen.chart.display and screen.chart.region.height >= 8 and panel.region.height >= 6
        await pilot.press("g")
        await pilot.pause()
        assert not screen.chart.display
        await pilot.press("g")
        await pilot.pause()
        assert screen.chart.display

        set_status(project, run.run_id, "completed")
        await wait_for(pilot, lambda: "completed" in status_text(screen))
        assert ("refresh", run.run_id) in service.calls
        assert service.calls.count(("follow", run.run_id)) == 1  # the backend's log follower, once
        assert screen.check_action("cancel_run", ()) is None  # nothing to cancel any more
        n = len(service.calls)
        await pilot.pause(0.5)
        assert len(service.calls) == n  # no polling once final


async def test_cancel_asks_first_then_calls_the_service(project: Project, service: FakeService) -> None:
    run = make_run(project, "20250101-120000-sft-ab12")
    append_log(run_dir(project, run.run_id), ["starting"])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and ("cancel", run.run_id) not in service.calls
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: "canceled" in status_text(screen))
        assert service.calls.count(("cancel", run.run_id)) == 1
        assert read_run(run_dir(project, run.run_id)).status == "canceled"
        await pilot.press("c")  # disabled now
        await pilot.pause()
        assert app.screen is screen


async def test_reopening_reattaches_to_the_existing_log(project: Project, service: FakeService) -> None:
    run = make_run(project, "20250101-120000-sft-ab12")
    folder = run_dir(project, run.run_id)
    append_log(folder, [f"old line {i}" for i in range(12_000)])
    append_metrics(folder, [{"step": s, "loss": 1.0 / s} for s in range(1, 11)])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await wait_for(pilot, lambda: screen.log_panel.lines_ingested == 12_000)
        assert screen.log_panel.lines[-1] == "old line 11999"
        await pilot.press("escape")  # back; the run goes on
        await pilot.pause()
        assert not isinstance(app.screen, JobMonitorScreen)
    append_log(folder, ["new line after the restart"])
    app = TunesmithApp(project.folder.parent)  # a restarted TUI
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        assert screen.run is not None and screen.run.run_id == run.run_id and screen.run.status == "running"
        panel = screen.log_panel
        await wait_for(pilot, lambda: panel.lines and panel.lines[-1] == "new line after the restart")
        assert "old line 11999" in panel.lines and len(panel.lines) <= panel.max_lines
        await wait_for(pilot, lambda: len(screen.chart.rows) == 10)
        # the chart's rows and the run's config (max_steps) reach the status line as messages: wait for both
        await wait_for(pilot, lambda: "step 10/100" in status_text(screen))
        assert "running" in status_text(screen)


async def test_follow_key_and_scrolling_up(project: Project, service: FakeService) -> None:
    run = make_run(project, "20250101-120000-sft-ab12")
    folder = run_dir(project, run.run_id)
    append_log(folder, [f"line {i}" for i in range(200)])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        panel = screen.log_panel
        await wait_for(pilot, lambda: panel.lines_ingested == 200)
        await pilot.press("f")
        assert not panel.follow
        top = panel.scroll_y
        append_log(folder, [f"more {i}" for i in range(50)])
        await wait_for(pilot, lambda: panel.lines_ingested == 250)
        assert panel.scroll_y == top and not panel.is_vertical_scroll_end  # the view stayed put
        await pilot.press("f")
        assert panel.follow and panel.is_vertical_scroll_end
        await pilot.press("pageup")  # scrolling up stops following; the end key follows again
        await pilot.pause()
        assert not panel.follow
        await pilot.press("end")
        await pilot.pause()
        assert panel.follow
        await pilot.press("g")  # the chart below the log hidden: the log gets taller and still follows
        await pilot.pause()
        append_log(folder, [f"last {i}" for i in range(5)])
        await wait_for(pilot, lambda: panel.lines_ingested == 255)
        await pilot.pause()
        assert panel.follow and panel.is_vertical_scroll_end and visible_log(panel)[-1] == "last 4"


async def test_list_of_runs_newest_first(project: Project, service: FakeService) -> None:
    now = datetime.now(timezone.utc)
    make_run(project, "20250101-000000-sft-old1", "failed", created=now - timedelta(days=2),
             failure_reason="CUDA out of memory")
    make_run(project, "20250102-000000-sft-new2", "completed", created=now - timedelta(days=1))
    append_log(run_dir(project, "20250101-000000-sft-old1"), ["Traceback …", "OutOfMemoryError"])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        assert screen.mode == "list"
        assert [r.run_id for r in screen.runs] == ["20250102-000000-sft-new2", "20250101-000000-sft-old1"]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.mode == "run")
        assert screen.run is not None and screen.run.run_id == "20250101-000000-sft-old1"
        assert "failed" in status_text(screen) and "CUDA out of memory" in status_text(screen)
        await wait_for(pilot, lambda: screen.log_panel.lines_ingested == 2)
        await pilot.press("escape")  # back to the list
        assert screen.mode == "list"
        await pilot.press("escape")  # back to the dashboard
        await pilot.pause()
        assert not isinstance(app.screen, JobMonitorScreen)


async def test_train_opens_the_setup_screen(project: Project, service: FakeService) -> None:
    """t opens the training set-up (base model, plan in words, start: tests/test_tui_train_setup.py);
    with a run going it says so and opens nothing."""
    from screens.train_setup import TrainSetupScreen

    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        assert screen.mode == "empty"
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainSetupScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        make_run(project, "20990101-000000-sft-new1", status="running")
        screen.load_runs("20990101-000000-sft-new1")
        await wait_for(pilot, lambda: screen.mode == "run")
        await pilot.press("t")  # a run is going: no second one
        await pilot.pause()
        assert app.screen is screen
        assert any("still running" in n.message for n in app._notifications)


async def test_without_the_service(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, SERVICE, None)  # import fails as if the module did not exist
    run = make_run(project, "20250101-120000-sft-ab12")
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        set_status(project, run.run_id, "failed")
        await wait_for(pilot, lambda: "failed" in status_text(screen))  # read from run.toml
        await pilot.press("t")
        await wait_for(pilot, lambda: any("skill 3" in n.message for n in app._notifications))


async def test_a_failing_refresh_is_said_once_and_run_toml_is_shown(project: Project, service: FakeService) -> None:
    service.fail = True
    run = make_run(project, "20250101-120000-sft-ab12")
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await wait_for(pilot, lambda: service.calls.count(("refresh", run.run_id)) >= 3)
        said = [n for n in app._notifications if n.title == "Could not refresh the run"]
        assert len(said) == 1 and "the Hub is down" in said[0].message
        set_status(project, run.run_id, "completed")
        await wait_for(pilot, lambda: "completed" in status_text(screen))


async def test_wide_layout_puts_the_chart_beside_the_log(project: Project, service: FakeService) -> None:
    make_run(project, "20250101-120000-sft-ab12", "completed")
    folder = run_dir(project, "20250101-120000-sft-ab12")
    from core import store
    from core.models.runs import MetricRow

    store.write_parquet(folder / METRICS_PARQUET, [MetricRow(step=s, loss=1.0 / s) for s in range(1, 6)])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await wait_for(pilot, lambda: len(screen.chart.rows) == 5)
        await pilot.pause()
        chart, panel = screen.chart, screen.log_panel
        assert chart.display and chart.region.x > panel.region.x and chart.region.y == panel.region.y
        assert panel.region.width > chart.region.width
        await pilot.press("g")
        await pilot.pause()
        assert not chart.display and panel.region.width > 150


# ---------------------------------------------------------------- the parts


def test_tailer_reads_whole_lines_and_caps_the_work(tmp_path: Path) -> None:
    tailer = LogTailer(tmp_path, max_lines=100, max_bytes=10_000)
    assert tailer.read() is None
    (tmp_path / LOG).write_text("a\nb\npartial")
    batch = tailer.read()
    assert batch is not None and batch.lines == ["a", "b"] and tailer.read() is None
    with (tmp_path / LOG).open("a") as fh:
        fh.write(" done\n" + "".join(f"x{i}\n" for i in range(500)))
    batch = tailer.read()
    assert batch is not None and batch.read == 501 and batch.dropped == 401
    assert batch.lines[0] == "x400" and batch.lines[-1] == "x499"
    with (tmp_path / LOG).open("a") as fh:  # 900 KB at once: only the last 10 KB is read
        fh.write("".join(f"y{i:07d}\n" for i in range(100_000)))
    batch = tailer.read()
    assert batch is not None and batch.skipped_bytes == 890_000 and batch.lines[-1] == "y0099999"
    assert all(line.startswith("y") and len(line) == 8 for line in batch.lines)
    with (tmp_path / LOG).open("a") as fh:  # the runner's progress lines give the step count
        fh.write("training started: 300 steps\n[metrics] step=3 loss=2.3 of=300\nsaving\n")
    assert tailer.read().total_steps == 300


def test_clean_lines_keeps_what_a_terminal_shows() -> None:
    assert clean_lines("10%\r50%\r100%\r\n\x1b[32mok\x1b[0m\n") == ["100%", "ok"]


def test_metrics_tailer_and_downsampling(tmp_path: Path) -> None:
    tailer = MetricsTailer(tmp_path)
    assert tailer.read() is None
    (tmp_path / METRICS_JSONL).write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    rows, replace = tailer.read()
    assert [r.step for r in rows] == [1] and not replace and tailer.read() is None
    xs, ys = bucket_means([float(i) for i in range(1000)], [1.0] * 1000, 10)
    assert len(xs) == 10 and ys == [1.0] * 10 and xs[0] == 49.5


def test_status_numbers() -> None:
    now = datetime.now(timezone.utc)
    run = TrainingRun(run_id="r", backend="hf_jobs", method="sft", base_model="m", status="running",
                      created_at=now, started_at=now - timedelta(hours=1), estimated_hours=2.0,
                      estimated_cost_usd=3.0, flavor="a10g-small")
    from core.models.runs import MetricRow

    done = progress({"max_steps": 400}, MetricRow(step=100))
    assert done == (0.25, "step 100/400")
    assert progress({"num_train_epochs": 3}, MetricRow(step=5, epoch=1.5))[0] == 0.5
    assert progress({"max_steps": -1, "hyperparameters": {"num_train_epochs": 2}}, MetricRow(step=5, epoch=0.5),
                    total_steps=50) == (0.1, "step 5/50")
    assert progress({"max_steps": -1, "hyperparameters": {"num_train_epochs": 2}}, MetricRow(step=5, epoch=0.5)) \
        == (0.25, "epoch 0.50/2")
    left, basis = remaining_s(run, 3600.0, 0.25)
    assert basis == "progress" and left == pytest.approx(3 * 3600)
    assert remaining_s(run, 3600.0, None) == (3600.0, "plan")
    assert cost_so_far(run, 3600.0) == (1.0, 1.0)  # a10g-small: $1.00/h from core.train.hardware
    assert cost_so_far(run.model_copy(update={"flavor": "mystery"}), 3600.0) == (1.5, 1.5)  # plan: $3 / 2 h
    assert cost_so_far(run.model_copy(update={"backend": "local"}), 3600.0) is None
    assert fmt_duration(65) == "1:05" and fmt_duration(3 * 3600 + 5) == "3:00:05" and fmt_duration(None) == "–"


# ---------------------------------------------------------------- the real service and local backend

FAKE_RUNNER = r'''
import json, signal, sys, time
from datetime import datetime, timezone
from pathlib import Path

folder = Path(sys.argv[sys.argv.index("--config") + 1]).parent

def stop(*_):
    print("stopping: SIGTERM", flush=True)
    (folder / "status.json").write_text(json.dumps({"status": "canceled", "reason": "canceled by the user",
                                                    "ended_at": datetime.now(timezone.utc).isoformat()}))
    sys.exit(143)

signal.signal(signal.SIGTERM, stop)
print("training started: 100000 steps", flush=True)
step = 0
while True:
    step += 1
    print(f"[metrics] step={step} loss={2.0 / step:.4f} of=100000", flush=True)
    with (folder / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"step": step, "loss": 2.0 / step}) + "\n")
    time.sleep(0.02)
'''


@pytest.fixture
def local_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """core.train.service with its real LocalBackend, whose runner is a small script that prints metric
    lines until SIGTERM (then records "canceled" in status.json, as the real runner does)."""
    from core.train import service as real
    from core.train.backends.local import LocalBackend

    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER)

    class ScriptBackend(LocalBackend):
        def command(self, folder: Path) -> list[str]:
            return [self.python, str(script), "--config", str(Path(folder).resolve() / "config.json")]

    monkeypatch.setitem(real.BACKENDS, "local", lambda: ScriptBackend(grace_s=5.0))
    monkeypatch.setattr(real, "_INSTANCES", {})
    started: list[int] = []
    yield real, started
    import os
    import signal

    for pid in started:  # never leave a runner behind
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


async def test_a_restarted_tui_reattaches_to_a_running_local_job_and_cancels_it(project: Project, local_backend) -> None:
    service, started = local_backend
    run = make_run(project, "20250101-120000-sft-live", status="queued")
    folder = run_dir(project, run.run_id)
    (folder / "config.json").write_text(json.dumps({"method": "sft", "hyperparameters": {"num_train_epochs": 1}}))
    run = service.get_backend("local").submit(folder, run)
    write_run(folder, run)
    started.append(run.pid)

    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await wait_for(pilot, lambda: screen.log_panel.lines_ingested >= 5)
        seen = screen.log_panel.lines_ingested
    # the TUI is gone; the job is not
    assert service.refresh(project, run.run_id).status == "running"
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        panel = screen.log_panel
        await wait_for(pilot, lambda: panel.lines_ingested > seen + 5 and len(screen.chart.rows) > 5)
        assert panel.lines[0] == "training started: 100000 steps"  # the whole log, from the start
        await wait_for(pilot, lambda: "running" in status_text(screen) and "/100000" in status_text(screen))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: "canceled" in status_text(screen), timeout=15)
        await wait_for(pilot, lambda: panel.lines and panel.lines[-1] == "stopping: SIGTERM")
    final = read_run(folder)
    assert final.status == "canceled" and final.ended_at is not None
    from core.train.backends.local import process_alive

    assert not process_alive(run.pid, run.run_id)


async def test_progress_bar_and_measured_time_left(project: Project, service: FakeService) -> None:
    """The status line shows a bar and the time left from the run's own seconds per step (15 s a step
    after a 120 s start-up: 70 steps left at step 30 → ~17:30 left), not elapsed / fraction."""
    run = make_run(project, "20250101-120000-sft-eta1", started_ago=420.0, planned_steps=100,
                   estimated_hours=1 / 60)
    folder = run_dir(project, run.run_id)
    append_metrics(folder, [{"step": s, "loss": 1.0, "time": 120.0 + (s - 10) * 15.0} for s in (10, 20, 30)])
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot, project)
        await wait_for(pilot, lambda: len(screen.chart.rows) == 3 and "step 30/100" in status_text(screen))
        text = status_text(screen)
        assert "███░░░░░░░ 30%" in text
        assert f"~{fmt_duration(70 * 15.0)} left" in text and "(plan)" not in text
