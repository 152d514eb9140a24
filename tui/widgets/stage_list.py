"""The four stages of a project with their status, the steps done and the next step."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from core.models.project import STAGE_STEPS, STAGES, ProjectFile

STAGE_TITLES: dict[str, str] = {
    "extract": "Knowledge extraction",
    "generate": "Data generation",
    "train": "Training",
    "evaluate": "Evaluation",
}

STEP_LABELS: dict[str, str] = {
    "persona": "persona chosen",
    "interview": "interview",
    "artifacts": "knowledge drafted",
    "boundaries_approved": "boundaries approved",
    "evalset": "eval set built",
    "evalset_approved": "eval set approved",
    "pilot": "pilot generated",
    "pilot_approved": "pilot approved",
    "scale": "scaled up",
    "validated": "dataset validated",
    "planned": "run planned",
    "trained": "model trained",
    "evaluated": "evaluated",
    "spot_checked": "spot-checked",
    "decided": "decision recorded",
}

STATUS_TEXT: dict[str, tuple[str, str]] = {
    "pending": ("○ pending", "dim"),
    "in_progress": ("◐ in progress", "bold $warning"),
    "done": ("● done", "bold $success"),
}


def stage_prompt(meta: ProjectFile, stage: str) -> Text:
    number = STAGES.index(stage) + 1
    state = meta.stages[stage]
    steps = STAGE_STEPS[stage]
    nxt = meta.next_step()
    status, style = STATUS_TEXT[state.status]
    head = Text.assemble(
        (f"{number} ", "bold"),
        (f"{STAGE_TITLES[stage]:<22}", "bold"),
        (f"{status:<15}", style.replace("$warning", "yellow").replace("$success", "green")),
        (f"{len(state.done)}/{len(steps)} steps", "dim"),
    )
    line = Text("  ")
    for i, step in enumerate(steps):
        if i:
            line.append("  ")
        if step in state.done:
            line.append("✓ " + STEP_LABELS[step], "green")
        elif nxt == (stage, step):
            line.append("▸ " + STEP_LABELS[step], "bold reverse")
        else:
            line.append("· " + STEP_LABELS[step], "dim")
    return Text("\n").join([head, line])


class StageList(OptionList):
    """One option per stage; enter posts OptionList.OptionSelected with the stage as option id."""

    DEFAULT_CSS = """
    StageList { height: auto; max-height: 100%; }
    StageList > .option-list--option { padding: 0 1; }
    """

    def show(self, meta: ProjectFile, rules: bool = True) -> None:
        """rules: a rule between stages (leave them out where the screen is short)."""
        highlighted = self.highlighted
        self.clear_options()
        options: list[Option | None] = []
        for s in STAGES:
            if options and rules:
                options.append(None)  # a rule between stages
            options.append(Option(stage_prompt(meta, s), id=s))
        self.add_options(options)
        current = meta.current_stage()
        if highlighted is not None:
            self.highlighted = highlighted
        else:
            self.highlighted = STAGES.index(current) if current else len(STAGES) - 1
