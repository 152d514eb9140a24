"""A run that finished elsewhere (a Hugging Face Jobs log follower, another process) marks the project
trained the next time anything looks at it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.project import Project
from core.train import runfolder as rf
from core.train import service

ROOT = Path(__file__).resolve().parent.parent
RUN = "20250312-101500-sft-7f3a"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    shutil.copytree(ROOT / "projects" / "billing-support", tmp_path / "billing-support")
    p = Project.open("billing-support", root=tmp_path)
    p.mark("train", "trained", done=False)
    folder = rf.run_dir(p, RUN)
    rf.write_run(folder, rf.read_run(folder).model_copy(update={"backend": "hf_jobs"}))
    return p


def test_refreshing_a_completed_run_marks_the_project_trained(project: Project) -> None:
    assert not project.meta.is_done("train", "trained")
    assert service.refresh(project, RUN).status == "completed"
    assert Project.open("billing-support", root=project.folder.parent).meta.is_done("train", "trained")


def test_listing_runs_marks_the_project_trained(project: Project) -> None:
    runs = service.list_runs(project)
    assert [r.run_id for r in runs] == [RUN]
    assert Project.open("billing-support", root=project.folder.parent).meta.is_done("train", "trained")


def test_a_project_already_trained_is_not_written_again(project: Project) -> None:
    service.refresh(project, RUN)
    meta = project.folder / "project.toml"
    before = meta.stat().st_mtime_ns
    service.refresh(project, RUN)
    service.list_runs(project)
    assert meta.stat().st_mtime_ns == before
