"""Project: the one facade scripts use to create, open, list and delete project folders.

A project is a folder of TOML and Parquet files under the projects folder (TUNESMITH_PROJECTS,
default ./projects). All state lives in it; nothing else is persistent.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel

from core import store
from core.lock import ProjectLock
from core.errors import BadInput, ProjectNotFound, StoreError
from core.models.config import TASK_TYPES, TRAINING_METHODS
from core.models.presets import DEFAULT_PRESET, get_preset
from core.models.project import STAGES, ProjectFile, slugify

M = TypeVar("M", bound=BaseModel)

# Relative paths of the files a project holds.
PROJECT_TOML = "project.toml"
INTERVIEW = "knowledge/interview.toml"
KNOWLEDGE_BASE = "knowledge/knowledge_base.toml"
BOUNDARIES = "knowledge/scope_boundaries.toml"
TAXONOMY = "knowledge/input_taxonomy.toml"
CRITERIA = "knowledge/quality_criteria.toml"
EVAL_SET = "knowledge/eval_set.parquet"
EVAL_REVIEW = "knowledge/eval_review.toml"
GITIGNORE = ".gitignore"
MAX_NAME = 200

# Written into every project folder (never over a .gitignore that is already there): the regenerable and
# large state stays out of git; the TOML / Parquet artifacts a team reviews stay tracked.
GITIGNORE_TEXT = """\
# Written by tunesmith: what git should not track in this project folder. Edit it freely;
# tunesmith never rewrites a .gitignore that exists.

# the writer lock (pid and host) of the tunesmith that has the project open
.lock
# LLM response cache and embeddings: regenerable, safe to delete
.cache/
# temporary files of an interrupted atomic write
.*.tmp
# trained model weights and their checkpoints (local backend): large; share a model on the Hub instead
runs/*/model/
# training checkpoints outside the model folder: large, only needed to resume a run
runs/*/checkpoint-*/
# scale-up shards: regenerable; the final data/training_dataset/, state.toml and the review sample stay
data/scale/part-*.parquet
# model outputs cached per evaluation input: regenerable, safe to delete
evals/cache/
"""


def projects_root(root: Path | str | None = None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get("TUNESMITH_PROJECTS") or "projects")


@dataclass
class ProjectSummary:
    slug: str
    name: str
    task: str
    stage: str | None
    next_hint: str
    error: str | None = None


class Project:
    """An open project folder. Reads validate; writes are atomic and take the project's lock."""

    def __init__(self, folder: Path, meta: ProjectFile):
        self.folder = Path(folder)
        self.meta = meta
        self._lock = ProjectLock(self.folder)
        self._long_hold = False  # hold_lock() was called and not yet released
        self._gitignore_checked = False

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def create(
        cls,
        name: str,
        task: str,
        *,
        preset: str = DEFAULT_PRESET,
        method: str | None = None,
        task_type: str | None = None,
        root: Path | str | None = None,
    ) -> "Project":
        name = name.strip()
        if not name:
            raise BadInput("name: must not be empty")
        check_name(name, "name")
        if not task or not task.strip():
            raise BadInput("--task: describe the task in a sentence or two")
        slug = slugify(name)
        if not slug:
            raise BadInput(f"name: {name!r} has no letters or digits to make a folder name from")
        try:
            chosen = get_preset(preset)
        except KeyError as exc:
            raise BadInput(f"--preset: {exc.args[0]}") from None
        if method is not None and method not in TRAINING_METHODS:
            raise BadInput(f"--method: must be one of {', '.join(TRAINING_METHODS)} (got {method!r})")
        if task_type is not None and task_type not in TASK_TYPES:
            raise BadInput(f"--task-type: must be one of {', '.join(TASK_TYPES)} (got {task_type!r})")
        folder = projects_root(root) / slug
        if folder.exists():
            raise BadInput(f"a project named {slug!r} already exists at {folder}")
        from core import task_type as tt

        decision = (tt.TaskTypeDecision(task_type, "chosen when the project was created", "user")
                    if task_type else tt.heuristic(task))
        meta = ProjectFile(
            name=name,
            slug=slug,
            task=task.strip(),
            training_method=method or chosen.training_method,
            sft_format=chosen.sft_format,  # type: ignore[arg-type]
            preset=chosen.name,
            config=chosen.config(),
        )
        tt.apply(meta, decision)
        folder.mkdir(parents=True)
        for sub in ("knowledge", "data", "runs", "evals", "exports", ".cache"):
            (folder / sub).mkdir()
        write_gitignore(folder)
        project = cls(folder, meta)
        with project.writing():
            project.save()
        return project

    @classmethod
    def open(cls, name: str, root: Path | str | None = None) -> "Project":
        base = projects_root(root)
        check_name(name, "NAME")
        folder = base / name
        if any(sep in name for sep in _SEPARATORS) or not _inside(base, folder):
            folder = base / slugify(name)  # "Support 24/7" names the project support-24-7, not a sub-folder
        if not (folder / PROJECT_TOML).exists():
            alt = base / slugify(name)
            if (alt / PROJECT_TOML).exists():
                folder = alt
            else:
                known = ", ".join(p.slug for p in list_projects(base)) or "none yet"
                raise ProjectNotFound(f"no project {name!r} in {base} (projects: {known})")
        meta = store.read_toml(folder / PROJECT_TOML, ProjectFile)
        if meta.slug != folder.name:
            raise StoreError(folder / PROJECT_TOML, f"is {meta.slug!r} but the folder is {folder.name!r}", "slug")
        return cls(folder, meta)

    def delete(self) -> None:
        with self.writing():  # fails clearly if another process holds the lock; removed while held
            shutil.rmtree(self.folder)
        self.release_lock()

    # ------------------------------------------------------------ locking and saving

    @contextmanager
    def writing(self) -> Iterator["Project"]:
        """Hold the project's lock for a group of writes (re-entrant; shared with every Project of this
        folder in this process). Another process's hold is a LockedError naming its pid and host."""
        with self._lock.held():
            if not self._gitignore_checked:  # an older project gets one the first time it is written
                self._gitignore_checked = True
                write_gitignore(self.folder)
            yield self

    def hold_lock(self) -> None:
        """Take the lock for as long as the project is open (the TUI: until release_lock), so that no
        other process writes under this one's in-memory state. LockedError if another process has it."""
        if not self._long_hold:
            self._lock.acquire()
            self._long_hold = True

    def release_lock(self) -> None:
        """End the hold hold_lock took (safe to call twice, or without one)."""
        if self._long_hold:
            self._long_hold = False
            self._lock.release()

    @property
    def locked_here(self) -> bool:
        """This process holds the project's lock (a long hold or a group of writes under way)."""
        return self._lock.held_here

    def save(self) -> None:
        with self.writing():
            store.write_toml(self.folder / PROJECT_TOML, self.meta)

    def reload(self) -> None:
        self.meta = store.read_toml(self.folder / PROJECT_TOML, ProjectFile)

    def mark(self, stage: str, step: str, done: bool = True) -> None:
        """Record a step of a stage as done (or undone) and save project.toml."""
        with self.writing():
            self.reload()
            self.meta.mark(stage, step, done)
            self.save()

    # ------------------------------------------------------------ artifacts

    def path(self, rel: str) -> Path:
        return self.folder / rel

    def exists(self, rel: str) -> bool:
        return (self.folder / rel).exists()

    def read(self, rel: str, model: type[M]) -> M:
        return store.read_toml(self.folder / rel, model)

    def read_or(self, rel: str, model: type[M], default: M | None = None) -> M | None:
        if not self.exists(rel):
            return default
        return self.read(rel, model)

    def write(self, rel: str, model: BaseModel) -> None:
        with self.writing():
            store.write_toml(self.folder / rel, model)

    def read_rows(self, rel: str, model: type[M]) -> list[M]:
        return store.read_parquet(self.folder / rel, model)

    def write_rows(self, rel: str, rows: list[BaseModel], model: type[BaseModel] | None = None) -> None:
        with self.writing():
            store.write_parquet(self.folder / rel, rows, model)

    @property
    def slug(self) -> str:
        return self.meta.slug

    @property
    def cache_dir(self) -> Path:
        return self.folder / ".cache"

    def summary(self) -> ProjectSummary:
        return ProjectSummary(
            slug=self.meta.slug,
            name=self.meta.name,
            task=self.meta.task,
            stage=self.meta.current_stage(),
            next_hint=self.meta.next_hint(),
        )

    def status_dict(self) -> dict:
        m = self.meta
        nxt = m.next_step()
        return {
            "name": m.name,
            "slug": m.slug,
            "folder": str(self.folder),
            "task": m.task,
            "task_type": m.task_type,
            "task_type_reason": m.task_type_reason,
            "task_type_source": m.task_type_source,
            "labels": list(m.labels),
            "training_method": m.training_method,
            "preset": m.preset,
            "illustration": m.illustration,
            "current_stage": m.current_stage(),
            "next": {"stage": nxt[0], "step": nxt[1], "hint": m.next_hint()} if nxt else None,
            "stages": {
                s: {"status": m.stages[s].status, "done": list(m.stages[s].done)} for s in STAGES
            },
        }


_SEPARATORS = tuple({"/", "\\", os.sep, os.altsep or "/"})


def check_name(name: str, arg: str = "NAME") -> None:
    """A project name or slug must name a folder in the projects folder: not a path (``../x``, ``/abs/x``,
    ``~/x``), not over MAX_NAME characters, no control characters. BadInput naming ``arg`` otherwise."""
    if len(name) > MAX_NAME:
        raise BadInput(f"{arg}: a project name is at most {MAX_NAME} characters (got {len(name)})")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadInput(f"{arg}: {name!r} has control characters; give the project's name or slug")
    parts = [p.strip() for p in name.replace("\\", "/").split("/")]
    if (name.startswith(("/", "\\")) or name == "~" or (parts[0].startswith("~") and len(parts) > 1)
            or os.path.isabs(name) or Path(name).drive
            or any(p in (".", "..") for p in parts)):
        raise BadInput(f"{arg}: {name!r} is a path; give the project's name or slug (a folder in the projects "
                       f"folder; set TUNESMITH_PROJECTS to use another projects folder)")


def _inside(base: Path, folder: Path) -> bool:
    """``folder`` is a direct child of ``base`` (paths normalised, symlinks not followed)."""
    return Path(os.path.abspath(folder)).parent == Path(os.path.abspath(base))


def write_gitignore(folder: Path) -> bool:
    """Write the project's .gitignore unless one is there (a user's own is never touched); True if written."""
    path = Path(folder) / GITIGNORE
    if os.path.lexists(path):
        return False
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # the umask applies, as for open()
    except FileExistsError:
        return False
    except OSError:
        return False  # a read-only folder: the project still works
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(GITIGNORE_TEXT)
    return True


def list_projects(root: Path | str | None = None) -> list[ProjectSummary]:
    """Every project folder under the root, sorted by slug. A broken one is listed with its error."""
    base = projects_root(root)
    if not base.is_dir():
        return []
    out: list[ProjectSummary] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and (p / PROJECT_TOML).exists()):
        try:
            out.append(Project.open(folder.name, base).summary())
        except (StoreError, BadInput) as exc:
            out.append(ProjectSummary(folder.name, folder.name, "", None, "", error=str(exc)))
    return out
