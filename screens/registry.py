"""Which screen the dashboard opens for each key, stage and step.

A stage screen is a ``textual.screen.Screen`` subclass in its own module whose constructor takes
the open :class:`core.project.Project` first (plus the keyword arguments of its ``ScreenSpec``):

    # screens/interview.py
    class InterviewScreen(Screen):
        def __init__(self, project: Project) -> None: ...

Adding one needs no change here when its module and class match the spec below: the dashboard
imports the module when the key is pressed; until the module exists the key says which skill
brings it. Pushing one from anywhere: ``self.app.open_screen("interview", project)``.
Plain data only: importing this module imports nothing else.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScreenSpec:
    name: str  # registry key, also the action argument: open('interview')
    title: str  # shown in the footer / palette
    module: str  # "screens.interview"
    cls: str  # "InterviewScreen"
    skill: int  # which skill of the pipeline brings it (1-4)
    key: str  # the dashboard's key for it
    help: str  # one line: what the screen is for
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # shorter name for the key bar (defaults to title)

    def is_built(self) -> bool:
        """True when the screen's module exists (found without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def load(self) -> type | None:
        """The screen class, or None when its module does not exist yet. An error inside an
        existing module is raised, not hidden."""
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name in (self.module, self.module.rsplit(".", 1)[0]):
                return None
            raise
        return getattr(module, self.cls)

    def not_built_message(self) -> str:
        return f"{self.title} is not built yet: it arrives with skill {self.skill}"


STAGE_SCREENS: dict[str, ScreenSpec] = {
    s.name: s
    for s in (
        ScreenSpec("interview", "Interview", "screens.interview", "InterviewScreen", 1, "i",
                   "pick the expert persona and answer the interview"),
        ScreenSpec("boundaries", "Boundaries", "screens.boundaries", "BoundariesScreen", 1, "b",
                   "review and approve the scope boundaries"),
        ScreenSpec("evalset_review", "Eval-set review", "screens.review", "ReviewScreen", 1, "e",
                   "build and spot-check the held-out eval set", {"kind": "evalset"}, "Eval set"),
        ScreenSpec("generation", "Generation", "screens.generation", "GenerationScreen", 2, "g",
                   "generate the pilot, then scale up"),
        ScreenSpec("pilot_review", "Pilot review", "screens.review", "ReviewScreen", 2, "p",
                   "spot-check the pilot data", {"kind": "pilot"}, "Pilot"),
        ScreenSpec("job_monitor", "Job monitor", "screens.job_monitor", "JobMonitorScreen", 3, "j",
                   "follow the training run: live log, loss chart, cancel", label="Training"),
        ScreenSpec("train_setup", "Training set-up", "screens.train_setup", "TrainSetupScreen", 3, "m",
                   "choose the base model and see the plan: where it runs, LoRA or full, time and cost",
                   label="Base model"),
        ScreenSpec("evaluate", "Evaluate", "screens.evaluate_run", "EvaluateScreen", 4, "v",
                   "evaluate the fine-tuned model against its base on the eval set, then open the report"),
        ScreenSpec("spot_check", "Spot-check", "screens.spot_check", "SpotCheckScreen", 4, "s",
                   "spot-check the evaluation"),
        ScreenSpec("report", "Report", "screens.report", "ReportScreen", 4, "t",
                   "evaluation report and deployment decision"),
        ScreenSpec("human_rating", "Human rating", "screens.human_rating", "HumanRatingScreen", 4, "h",
                   "rate the evaluation's outputs that wait for a human", label="Rate"),
    )
}

# The screen that does each step of the pipeline (core.models.project.STAGE_STEPS).
STEP_SCREENS: dict[str, str] = {
    "persona": "interview",
    "interview": "interview",
    "artifacts": "boundaries",
    "boundaries_approved": "boundaries",
    "evalset": "evalset_review",
    "evalset_approved": "evalset_review",
    "pilot": "generation",
    "pilot_approved": "pilot_review",
    "scale": "generation",
    "validated": "generation",
    "planned": "train_setup",
    "trained": "job_monitor",
    "evaluated": "evaluate",
    "spot_checked": "spot_check",
    "decided": "report",
}


def spec(name: str) -> ScreenSpec:
    return STAGE_SCREENS[name]


def step_of_hint(hint: str) -> str | None:
    """The step whose hint (core.models.project.STEP_HINTS, NAME filled in) ``hint`` is, else None."""
    from core.models.project import STEP_HINTS

    what = hint.partition(": ")[0]
    return next((step for step, text in STEP_HINTS.items() if text.partition(": ")[0] == what), None)


def key_hint(hint: str) -> tuple[str, str]:
    """('press m to plan the training run', 'tunesmith train NAME') from a next-step hint: the app's key
    first (the dashboard's key for the step's screen), the CLI command second."""
    what, _, command = hint.partition(": ")
    step = step_of_hint(hint)
    spec = STAGE_SCREENS.get(STEP_SCREENS.get(step or "", ""))
    if spec is None or not spec.is_built():
        return what, command
    return f"press {spec.key} to {what}", command
