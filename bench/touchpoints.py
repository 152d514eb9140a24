"""Keystrokes and time of the three human touchpoints, driven with Pilot as a person would.

The spec promises about 40 minutes of manual effort across three touchpoints:

  1. extraction: the interview (answered with the suggestions), the boundary approval and the eval-set
     spot-check (10 examples rated);
  2. the pilot spot-check (10 examples rated);
  3. the evaluation spot-check (15 items rated with a trust answer, 5 base-vs-candidate comparisons).

Each runs on a copy of a demo project in a temporary folder (the interview on a fresh project, offline: the
question bank's 18 questions; the others on copies of the example projects/billing-support with that
touchpoint's step withdrawn), opened from the dashboard by its key, at 80x24. For each touchpoint:

- keys: every key pressed, the dashboard key that opens the screen and the escape that leaves it included;
- machine s: the app's wall time to respond to those keys (press until the screen's workers are done and
  the screen is idle), i.e. the time a person waits, excluding their reading and thinking;
- human min: an estimate with a stated model: reading at 200 words a minute (every word shown for an
  item: question and suggestions, statement, input, reference, outputs) + 2 s per decision (a key that
  rates, answers, trusts, prefers or approves) + machine time.

    python bench/touchpoints.py [--readme bench/README.md]

``--readme`` rewrites the "## Touchpoints" section of that file with the table and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE = (80, 24)
WPM = 200
DECISION_S = 2.0
EXAMPLE = ROOT / "projects" / "billing-support"


@dataclass
class Tally:
    name: str
    touchpoint: int
    keys: int = 0
    decisions: int = 0
    words: int = 0
    machine_s: float = 0.0
    items: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def human_s(self) -> float:
        return self.words / WPM * 60 + self.decisions * DECISION_S + self.machine_s


def plain(obj) -> str:
    """A str, or a Rich renderable as the text it prints (80 columns)."""
    if obj is None or isinstance(obj, str):
        return obj or ""
    import io

    from rich.console import Console

    console = Console(width=78, record=True, file=io.StringIO())
    console.print(obj)
    return console.export_text()


def words(*texts) -> int:
    return sum(len(re.findall(r"\w+", plain(t))) for t in texts)


class Driver:
    def __init__(self, pilot, tally: Tally) -> None:
        self.pilot, self.tally = pilot, tally

    async def settle(self, until=None, workers: bool = True, timeout: float = 60.0) -> None:
        app = self.pilot.app
        end = time.monotonic() + timeout
        while True:
            for _ in range(3):
                if workers:
                    await app.workers.wait_for_complete()
                await self.pilot.pause()
            if not getattr(app.screen, "busy", False) and (until is None or until()):
                return
            if time.monotonic() > end:
                raise TimeoutError(f"{type(app.screen).__name__} did not settle")
            await self.pilot.pause(0.02)

    async def press(self, *keys: str, decisions: int = 0, until=None) -> None:
        t = time.perf_counter()
        await self.pilot.press(*keys)
        await self.settle(until)
        self.tally.machine_s += time.perf_counter() - t
        self.tally.keys += len(keys)
        self.tally.decisions += decisions

    def no_error(self) -> None:
        from tui.errors import ErrorDialog

        if any(isinstance(s, ErrorDialog) for s in self.pilot.app.screen_stack):
            raise RuntimeError(f"an error dialog opened during {self.tally.name}")


def copy_example(root: Path, slug: str):
    from core.project import Project

    shutil.copytree(EXAMPLE, root / slug, ignore=shutil.ignore_patterns(".cache", ".lock"))
    meta = root / slug / "project.toml"
    meta.write_text(meta.read_text(encoding="utf-8").replace('slug = "billing-support"', f'slug = "{slug}"'),
                    encoding="utf-8")
    return Project.open(slug, root)


def prepare(root: Path) -> dict[str, str]:
    """The projects: one per screen, each at the step its touchpoint does."""
    from core.evaluate import evalfolder as ef
    from core.evaluate.spot_check import AGREEMENT
    from core.generate import pipeline_state as ps
    from core.models.knowledge import ScopeBoundaries
    from core.project import BOUNDARIES, EVAL_REVIEW, Project

    Project.create("Interview demo", "Answer customers' billing questions for a project-planning SaaS.", root=root)
    p = copy_example(root, "boundaries-demo")
    b = p.read(BOUNDARIES, ScopeBoundaries)
    p.write(BOUNDARIES, b.model_copy(update={"approved": False, "approved_at": None}))
    p.mark("extract", "boundaries_approved", done=False)
    p = copy_example(root, "evalset-demo")
    p.path(EVAL_REVIEW).unlink()
    p.mark("extract", "evalset_approved", done=False)
    p = copy_example(root, "pilot-demo")
    p.path(ps.PILOT_REVIEW).unlink()
    p.mark("generate", "pilot_approved", done=False)
    p = copy_example(root, "spot-demo")
    eid = ef.require_eval(p)
    for name in (ef.SPOT_CHECK, AGREEMENT, ef.DECISION):
        ef.path(p, eid, name).unlink(missing_ok=True)
    p.mark("evaluate", "spot_checked", done=False)
    return {"interview": "interview-demo", "boundaries": "boundaries-demo", "evalset_review": "evalset-demo",
            "pilot_review": "pilot-demo", "spot_check": "spot-demo"}


async def open_from_dashboard(d: Driver, slug: str, key: str, until) -> None:
    from screens.dashboard import DashboardScreen

    app = d.pilot.app
    while len(app.screen_stack) > 1:
        app.pop_screen()
    await d.settle()
    app.open_project(slug)
    await d.settle(lambda: isinstance(app.screen, DashboardScreen))
    await d.press(key, until=until)
    d.no_error()


async def interview(d: Driver, slug: str) -> None:
    app = d.pilot.app
    await open_from_dashboard(d, slug, "i", lambda: getattr(app.screen, "step", "") in ("persona", "question"))
    screen = app.screen
    personas = screen.interview.personas if getattr(screen, "interview", None) else []
    d.tally.words += sum(words(p.role, p.why) for p in personas)
    await d.press("1", decisions=1)  # the top-ranked persona
    while screen.step == "question":
        q = screen.question
        d.tally.words += words(q.text, *q.suggestions)
        d.tally.items += 1
        await d.press("enter", decisions=1)  # the highlighted suggestion
        d.no_error()
    d.tally.notes.append(f"{d.tally.items} questions (offline bank), the first suggestion each")
    await d.press("escape")


async def boundaries(d: Driver, slug: str) -> None:
    app = d.pilot.app
    await open_from_dashboard(d, slug, "b", lambda: getattr(app.screen, "bounds", None) is not None)
    b = app.screen.bounds
    statements = [*b.will, *b.will_not, *b.hard_constraints]
    d.tally.words += words(*(s.text for s in statements))
    d.tally.items = len(statements)
    await d.press("y", decisions=1)
    d.no_error()
    assert app.screen.bounds.approved
    await d.press("escape")


async def rate_items(d: Driver, slug: str, key: str, good) -> None:
    """The shared rater (eval-set or pilot review): read each item, y or n."""
    app = d.pilot.app
    await open_from_dashboard(d, slug, key, lambda: getattr(app.screen, "rater", None) is not None)
    screen = app.screen
    while screen.rater is not None and not getattr(screen.rater, "finished", False):
        item = screen.rater.current
        if item is None:
            break
        d.tally.words += words(item.title, item.body)
        d.tally.items += 1
        await d.press("y" if good(item) else "n", decisions=1)
        d.no_error()
    await d.press("escape")


async def spot_check(d: Driver, slug: str) -> None:
    from core.evaluate import evalfolder as ef
    from core.project import Project

    app = d.pilot.app
    p = Project.open(slug, app.projects_root)
    eid = ef.require_eval(p)
    passed = {r.example_id: r.passed for r in ef.read_results(p, eid, "candidate")}
    await open_from_dashboard(d, slug, "s", lambda: getattr(app.screen, "rater", None) is not None)
    screen = app.screen
    rater = screen.rater
    comparisons = 0
    while not rater.done:
        item = rater.current
        view = next(v for v in screen.state.views if v.id == item.id)
        ok = passed.get(item.id, True)
        d.tally.words += words(item.title, item.body)
        d.tally.items += 1
        await d.press("g" if ok else "b", decisions=1)  # ✓ / ✗
        if view.is_comparison:
            comparisons += 1
            await d.press("right" if ok else "left", decisions=1)  # which is better: candidate / base
        await d.press("y" if ok else "n", decisions=1)  # would you trust this? (then the next item)
        d.no_error()
    assert screen.saver is not None and screen.saver.wait()  # every answer written before deciding
    d.tally.notes.append(f"{d.tally.items - comparisons} rated with trust + {comparisons} comparisons")
    await d.press("d", decisions=1, until=lambda: type(app.screen).__name__ == "ReportScreen")  # decide
    d.no_error()
    await d.press("escape")


async def measure(root: Path) -> list[Tally]:
    from core.evaluate import evalfolder as ef
    from core.project import Project
    from tui.app import TunesmithApp

    slugs = prepare(root)
    tallies = [Tally("interview (18 questions)", 1), Tally("boundary approval", 1),
               Tally("eval-set spot-check (10)", 1), Tally("pilot spot-check (10)", 2),
               Tally("evaluation spot-check (15 + 5 pairs)", 3)]
    app = TunesmithApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await Driver(pilot, tallies[0]).settle()
        await interview(Driver(pilot, tallies[0]), slugs["interview"])
        await boundaries(Driver(pilot, tallies[1]), slugs["boundaries"])
        await rate_items(Driver(pilot, tallies[2]), slugs["evalset_review"], "e", lambda item: True)
        await rate_items(Driver(pilot, tallies[3]), slugs["pilot_review"], "p", lambda item: True)
        await spot_check(Driver(pilot, tallies[4]), slugs["spot_check"])
    # what the keys did, checked on disk
    checks = {
        "interview": Project.open(slugs["interview"], root).meta.is_done("extract", "interview"),
        "boundaries": Project.open(slugs["boundaries"], root).meta.is_done("extract", "boundaries_approved"),
        "evalset": Project.open(slugs["evalset_review"], root).meta.is_done("extract", "evalset_approved"),
        "pilot": Project.open(slugs["pilot_review"], root).meta.is_done("generate", "pilot_approved"),
        "spot": Project.open(slugs["spot_check"], root).meta.is_done("evaluate", "spot_checked"),
        "decided": ef.read_decision(Project.open(slugs["spot_check"], root),
                                    ef.require_eval(Project.open(slugs["spot_check"], root))) is not None,
    }
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"the keys did not complete: {', '.join(failed)}")
    return tallies


def table(tallies: list[Tally]) -> str:
    lines = ["| touchpoint | screen | items | keys | machine s | words read | decisions | human min |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for tp in (1, 2, 3):
        rows = [t for t in tallies if t.touchpoint == tp]
        for t in rows:
            lines.append(f"| {tp} | {t.name} | {t.items} | {t.keys} | {t.machine_s:.1f} | {t.words} | "
                         f"{t.decisions} | {t.human_s / 60:.1f} |")
        if len(rows) > 1:
            lines.append(f"| **{tp}** | **subtotal** | | **{sum(t.keys for t in rows)}** | "
                         f"**{sum(t.machine_s for t in rows):.1f}** | **{sum(t.words for t in rows)}** | "
                         f"**{sum(t.decisions for t in rows)}** | **{sum(t.human_s for t in rows) / 60:.1f}** |")
    lines.append(f"| | **all three** | | **{sum(t.keys for t in tallies)}** | "
                 f"**{sum(t.machine_s for t in tallies):.1f}** | **{sum(t.words for t in tallies)}** | "
                 f"**{sum(t.decisions for t in tallies)}** | **{sum(t.human_s for t in tallies) / 60:.1f}** |")
    return "\n".join(lines)


SECTION = """## Touchpoints

The three human touchpoints driven with Pilot at 80×24, as a person would, on copies of the example
project (the interview on a fresh offline project: the question bank's 18 questions, each answered with the
first suggestion). `keys` counts every key pressed, opening and leaving each screen included; `machine s`
is the app's wall time to respond to those keys (excluding reading time); `human min` is an estimate:
reading at {wpm} words a minute (every word shown for an item) + {dec:.0f} s per decision + machine time.

    python bench/touchpoints.py --readme bench/README.md

{table}

{notes}

The interview is answered with the suggestions here; typing one's own answers (say 20 words each at 40
words a minute) would add about {typing:.0f} minutes to touchpoint 1.
"""


def write_readme(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find("## Touchpoints")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + 1)
        new = old[:start] + text + (old[nxt + 1:] if nxt >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, help="rewrite the '## Touchpoints' section of this file")
    args = parser.parse_args(argv)
    for name in ("TUNESMITH_MODEL", "TUNESMITH_API_BASE", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(name, None)  # offline: the interview uses the question bank, nothing is sent anywhere
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if not (EXAMPLE / "project.toml").exists():
        parser.error("projects/billing-support is missing: python bench/make_example_project.py")
    with tempfile.TemporaryDirectory(prefix="tunesmith-touch-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        os.environ["TUNESMITH_PROJECTS"] = str(root)
        tallies = asyncio.run(measure(root))
    out = table(tallies)
    notes = "\n".join(f"- {t.name}: {'; '.join(t.notes)}" for t in tallies if t.notes)
    print(out)
    if notes:
        print(notes)
    if args.readme:
        write_readme(args.readme, SECTION.format(wpm=WPM, dec=DECISION_S, table=out, notes=notes,
                                                   typing=tallies[0].items * 20 / 40).rstrip() + "\n")
        print(f"wrote the Touchpoints section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
