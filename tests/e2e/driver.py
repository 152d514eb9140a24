"""Drive the whole pipeline through the CLI contract in this process, as a script would.

    out = Pipeline(root, env).new("Name", task, preset="minimal", method="sft")
    ...

Each step is ``core.cli.main([...])`` with stdin given as text (one answer per line), stdout captured;
a step that exits non-zero raises with its output, so a test failure shows what the user would see.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class StepFailed(AssertionError):
    pass


@dataclass
class Pipeline:
    root: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (command, seconds) per step

    def cli(self, *args: str, stdin: str = "", ok: tuple[int, ...] = (0,)) -> str:
        from core.cli import main

        import time

        t0 = time.perf_counter()
        out, err = io.StringIO(), io.StringIO()
        old_in = sys.stdin
        sys.stdin = Piped(stdin)
        try:
            with _env({**self.env, "TUNESMITH_PROJECTS": str(self.root)}), contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            sys.stdin = old_in
        text = out.getvalue() + err.getvalue()
        self.seconds.append((args[0], round(time.perf_counter() - t0, 2)))
        self.log.append(f"$ tunesmith {' '.join(args)}\n{text}")
        if "Traceback" in text:
            raise StepFailed(f"tunesmith {' '.join(args)} printed a traceback:\n{text[-4000:]}")
        if code not in ok:
            raise StepFailed(f"tunesmith {' '.join(args)} exited {code}:\n{text[-4000:]}")
        return text

    def project(self, slug: str):
        from core.project import Project

        return Project.open(slug, self.root)

    def configure(self, slug: str, edit) -> None:
        """Change project.toml the way a user would (edit the file), through the model."""
        p = self.project(slug)
        with p.writing():
            p.reload()
            edit(p.meta)
            p.save()
