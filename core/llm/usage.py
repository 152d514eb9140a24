"""Token and cost accounting per stage, optionally kept in a TOML file (never holds a key)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydantic import Field

from core.models.config import Strict
from core.store import SCHEMA_VERSION, read_toml, write_toml

AUTOSAVE_EVERY_S = 1.0


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 0.1 or usd == 0 else f"${usd:.4f}"


class StageUsage(Strict):
    calls: int = 0  # model calls made (cache hits not included)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: StageUsage) -> None:
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd


class UsageFile(Strict):
    schema_version: int = SCHEMA_VERSION
    stages: dict[str, StageUsage] = Field(default_factory=dict)


class UsageLedger:
    """Per-stage totals. With a ``path``, earlier totals are loaded and the file is rewritten
    atomically at most once a second (and on :meth:`save`)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None
        self.stages: dict[str, StageUsage] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._saved_at = 0.0
        if self.path is not None and self.path.exists():
            self.stages = dict(read_toml(self.path, UsageFile).stages)

    def record(
        self,
        stage: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
        cached: bool = False,
    ) -> None:
        with self._lock:
            entry = self.stages.setdefault(stage, StageUsage())
            if cached:
                entry.cache_hits += 1
            else:
                entry.add(StageUsage(calls=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                     cost_usd=cost_usd))
            self._dirty = True
            due = time.monotonic() - self._saved_at >= AUTOSAVE_EVERY_S
        if due:
            self.save()

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return sum(s.cost_usd for s in self.stages.values())

    def total(self) -> StageUsage:
        out = StageUsage()
        with self._lock:
            for s in self.stages.values():
                out.add(s)
        return out

    def summary(self) -> dict[str, dict[str, float | int]]:
        """{stage: {calls, cache_hits, prompt_tokens, completion_tokens, cost_usd}} plus a "total" row."""
        with self._lock:
            rows = {name: s.model_dump() for name, s in sorted(self.stages.items())}
        rows["total"] = self.total().model_dump()
        return rows

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            if not self._dirty:
                return
            snapshot = UsageFile(stages={k: v.model_copy() for k, v in self.stages.items()})
            self._dirty = False
            self._saved_at = time.monotonic()
        write_toml(self.path, snapshot)
