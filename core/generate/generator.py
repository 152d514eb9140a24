"""Generate candidate training examples for one quota cell, in the project's TRL format.

``Generator.generate(cell, n, phase, start_index)`` asks the strategy's role for the cell's inputs and good
responses in requests of at most :data:`MAX_PER_REQUEST` (run concurrently; the gateway limits concurrency),
with the :class:`GeneratedBatch` schema and the prompt ``generate_<kind>``. Every request carries its own
persona / context / style seeds and a batch tag derived from (phase, cell, start_index), so a different
``start_index`` never replays a cached reply while the same call replays the same examples. A short reply is
re-asked once for the missing count (with the inputs it already has to avoid), and a failed request is
asked once more; replies that stay short, fail validation after the gateway's re-asks or repeat an input
simply give fewer examples. Then, per request:

- self-critique (instruction-following): one CritiqueBatch call; revised responses replace the originals;
- verification (transformation, reasoning, cot): one VerificationBatch call; failed examples are dropped;
- DPO: a rejected response per example, KTO: every other example undesirable (labels balanced), both by the
  five strategies of :mod:`core.generate.generator_rejected`;
- GRPO: the good response becomes the ``reference`` column, with should_refuse, category and difficulty.

Provider failures that the pipeline must pause on (CircuitOpen, BudgetExceeded, LLMNotConfigured) propagate;
any other failure of a request only makes the result shorter. Tokens and cost go to the gateway's
"generate" stage. ``stats`` counts what happened (requests, failures, dropped examples).

Three project decisions shape every request (each read from its one source, like every other stage):

- demonstrations (:mod:`core.generate.demonstrations`: the interview's example, approved pilot examples;
  never eval-set items) are shown, rotated per request, to the few_shot strategy and to classification
  tasks; the ones a request saw are recorded in its examples' ``prompt_version``;
- a classification task with a known label set (project.toml ``labels``) asks for the label through a
  schema whose ``response`` is an enum of exactly those labels, so the response is always a label;
- refusal examples open the way the project's refusal rule (:mod:`core.refusal`) recognises: a reply that
  does not decline up front is opened with the project's refusal sentence, as the prompt asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from typing import Any, Sequence

from core import prompts
from core.errors import TunesmithError
from core.generate import demonstrations as demos
from core.generate import generator_prompts as gp
from core.generate import records
from core.generate.generator_rejected import FATAL, assign, make_rejected
from core.generate.generator_schemas import (
    CritiqueBatch, GeneratedBatch, GeneratedExample, VerificationBatch, labeled_batch,
)
from core.generate.plan import Cell
from core.generate.strategy import StrategyPlan
from core.models.data import REJECTED_STRATEGIES, TrainingExample
from core.refusal import rule_for

STAGE = "generate"
PHASES = ("pilot", "scale")
MAX_PER_REQUEST = 8
MAX_ROUNDS = 2  # the ask and one re-ask for the missing count (or after a failed request)
SHOTS = demos.SHOWN  # few-shot demonstrations shown per request
TEMPERATURE = 0.9
CHECK_TEMPERATURE = 0.2
# When requests wait for the gateway's slots, work that finishes examples already under way goes first
# (the self-critique or verification of a batch, then the filters' judge calls), so examples reach the
# filters and the checkpointed parts sooner and the run's tail is short.
PRIORITY_GENERATE = 0
PRIORITY_CHECK = 2
Draft = tuple[str, str]  # (input, good response)


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _key(cell: Cell) -> str:
    return f"{cell.kind}|{cell.category}|{cell.difficulty}|{cell.exercises}"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class Generator:
    """Candidate examples for quota cells; ``feedback`` and ``avoid`` may be changed between calls."""

    def __init__(
        self,
        project: Any,
        gateway: Any,
        strategy: StrategyPlan,
        *,
        feedback: Sequence[str] = (),
        avoid: Sequence[str] = (),
        shots: Sequence[Draft | demos.Demonstration] | None = None,
        use_cache: bool = True,
    ):
        self.project = project
        self.gw = gateway
        self.strategy = strategy
        self.feedback: list[str] = list(feedback)
        self.cell_feedback: dict[str, list[str]] = {}  # a cell's own adjustments (the scale-up's struggling cells)
        self.avoid: list[str] = list(avoid)
        # few-shot demonstrations: the project's own (interview, approved pilot) unless given; never eval items
        given = demos.collect(project) if shots is None else shots
        self.shots: list[demos.Demonstration] = [
            d if isinstance(d, demos.Demonstration) else demos.Demonstration("in_scope", d[0], d[1], "given")
            for d in given]
        self.use_cache = use_cache
        self.src = gp.Sources.load(project)
        self.rule = rule_for(project)
        self.demands = gp.filter_demands(project)
        meta = project.meta
        self.labels: tuple[str, ...] = tuple(meta.labels) if meta.task_type == "classification" else ()
        self.method = meta.training_method
        self.format = records.format_for(meta.training_method, meta.sft_format)
        self.failed_strategies: dict[str, str] = {}  # rejected-response strategies that failed, and why
        self._shot_digest: dict[str, str] = {}  # normalised input -> digest of the demonstrations its request saw
        self.stats: dict[str, int] = {
            "requests": 0, "failed_requests": 0, "short": 0, "duplicates": 0, "invalid": 0,
            "revised": 0, "verify_failed": 0, "no_rejected": 0,
        }
        self.last_error = ""

    # ------------------------------------------------------------ public

    @property
    def model(self) -> str:
        """The litellm model string of the main generation role."""
        return self.gw.model_for(self.strategy.role).model

    async def generate(self, cell: Cell, n: int, phase: str, start_index: int = 0) -> list[TrainingExample]:
        """Up to ``n`` candidate examples for ``cell`` (fewer when the model's output falls short)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)} (got {phase!r})")
        if n <= 0:
            return []
        model = self.model  # raises LLMNotConfigured before any work
        sizes = [min(MAX_PER_REQUEST, n - i) for i in range(0, n, MAX_PER_REQUEST)]
        offsets = [sum(sizes[:k]) for k in range(len(sizes))]
        seen: set[str] = set()
        results = await asyncio.gather(
            *(self._request(cell, size, phase, start_index + off, seen) for size, off in zip(sizes, offsets)),
            return_exceptions=True,
        )
        drafts: list[Draft] = []
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, FATAL) or not isinstance(r, TunesmithError):
                    raise r
                self._failed(r)
                continue
            drafts.extend(r)
        drafts = drafts[:n]
        examples = await self._examples(cell, drafts, phase, start_index, model)
        self.stats["short"] += max(0, n - len(examples))
        return examples

    # ------------------------------------------------------------ asking

    def uses_shots(self, cell: Cell) -> bool:
        return self.strategy.name == "few_shot" or (self.src.task_type == "classification" and cell.kind != "refusal")

    def shots_for(self, cell: Cell, tag: str) -> list[demos.Demonstration]:
        return demos.pick(self.shots, cell.kind, tag) if self.uses_shots(cell) else []

    def schema_for(self, cell: Cell) -> type:
        """The reply schema: labels as an enum for a classification task with a known label set."""
        if self.labels and cell.kind != "refusal":
            return labeled_batch(self.labels)
        return GeneratedBatch

    def messages(self, cell: Cell, total: int, phase: str, index: int, attempt: int,
                 avoid: Sequence[str] = ()) -> list[dict[str, str]]:
        tag = f"{phase}-{_digest(_key(cell))[:6]}-{index}" + (f"-r{attempt}" if attempt else "")
        rng = random.Random(_digest("seeds", phase, _key(cell), index, attempt))
        shots = self.shots_for(cell, tag)
        values: dict[str, object] = {
            "knowledge": self.src.knowledge_block(),
            "category": cell.category,
            "category_description": self.src.category_description(cell.category),
            "difficulty": cell.difficulty,
            "difficulty_description": self.src.difficulty_description(cell.difficulty),
            "exercises": cell.exercises,
            "strategy_notes": gp.strategy_notes(self.src, self.strategy, cell.kind, gp.seed_lines(rng, total),
                                                [(d.input, d.response) for d in shots], labels=self.labels,
                                                refusal=self.rule.message, demands=self.demands),
            "total": total,
            "batch": tag,
            "notes": gp.notes([*self.feedback, *self.cell_feedback.get(cell.key, [])], [*self.avoid, *avoid]),
        }
        return prompts.render(gp.TEMPLATES[cell.kind], **values)

    async def _request(self, cell: Cell, want: int, phase: str, index: int, seen: set[str]) -> list[Draft]:
        got: list[Draft] = []
        for attempt in range(MAX_ROUNDS):
            need = want - len(got)
            if need <= 0:
                break
            self.stats["requests"] += 1
            at = index + len(got)
            tag = f"{phase}-{_digest(_key(cell))[:6]}-{at}" + (f"-r{attempt}" if attempt else "")
            try:
                batch = await self.gw.structured(
                    self.strategy.role, self.messages(cell, need, phase, at, attempt, [i for i, _ in got]),
                    self.schema_for(cell), stage=STAGE, temperature=TEMPERATURE, use_cache=self.use_cache,
                    priority=PRIORITY_GENERATE + (attempt > 0),  # a second round finishes a batch under way
                )
            except FATAL:
                raise
            except TunesmithError as exc:  # failed after the gateway's retries and re-asks: one more round
                self._failed(exc)
                continue
            fresh = self._clean(batch.examples, seen, cell)[:need]
            shots = demos.digest(self.shots_for(cell, tag))
            for inp, _ in fresh:
                self._shot_digest[_norm(inp)] = shots
            got.extend(fresh)
        if got and self.strategy.self_critique:
            got = await self._critique(cell, got)
        if got and self.strategy.verify:
            got = await self._verify(cell, got)
        return got

    def _clean(self, items: Sequence[GeneratedExample], seen: set[str], cell: Cell | None = None) -> list[Draft]:
        out = []
        for ex in items:
            inp, resp = (ex.input or "").strip(), str(ex.response or "").strip()
            if len(inp) < 3 or not resp:
                self.stats["invalid"] += 1
                continue
            key = _norm(inp)
            if key in seen:
                self.stats["duplicates"] += 1
                continue
            seen.add(key)
            out.append((inp, resp))
        return out

    def _check_messages(self, name: str, cell: Cell, drafts: Sequence[Draft]) -> list[dict[str, str]]:
        return prompts.render(
            name, knowledge=self.src.knowledge_block(), requirements=gp.requirements(self.strategy, self.src),
            total=len(drafts), kind=cell.kind, kind_rule=gp.KIND_RULES[cell.kind], items=gp.item_blocks(drafts),
        )

    async def _check(self, name: str, schema: type, cell: Cell, drafts: Sequence[Draft]) -> Any:
        self.stats["requests"] += 1
        try:
            return await self.gw.structured(self.strategy.role, self._check_messages(name, cell, drafts), schema,
                                            stage=STAGE, temperature=CHECK_TEMPERATURE, use_cache=self.use_cache,
                                            priority=PRIORITY_CHECK)
        except FATAL:
            raise
        except TunesmithError as exc:  # an unchecked batch is kept: the filters still judge it
            self._failed(exc)
            return None

    async def _critique(self, cell: Cell, drafts: list[Draft]) -> list[Draft]:
        reply: CritiqueBatch | None = await self._check("generate_critique", CritiqueBatch, cell, drafts)
        if reply is None:
            return drafts
        out = list(drafts)
        for r in reply.revisions:
            k = r.index - 1
            new = (r.revised_response or "").strip()
            if 0 <= k < len(out) and new and new != out[k][1]:
                out[k] = (out[k][0], new)
                self.stats["revised"] += 1
        return out

    async def _verify(self, cell: Cell, drafts: list[Draft]) -> list[Draft]:
        reply: VerificationBatch | None = await self._check("generate_verify", VerificationBatch, cell, drafts)
        if reply is None:
            return drafts
        failed = {v.index - 1 for v in reply.verdicts if not v.passed}
        self.stats["verify_failed"] += len(failed & set(range(len(drafts))))
        return [d for k, d in enumerate(drafts) if k not in failed]

    def _failed(self, exc: BaseException) -> None:
        self.stats["failed_requests"] += 1
        self.last_error = str(exc)

    # ------------------------------------------------------------ examples

    def _version(self, cell: Cell, inp: str) -> str:
        """The prompt template's version, plus the digest of the demonstrations its request showed."""
        shots = self._shot_digest.get(_norm(inp), "")
        return prompts.version(gp.TEMPLATES[cell.kind]) + (f"+shots@{shots}" if shots else "")

    def _opened(self, cell: Cell, drafts: list[Draft]) -> list[Draft]:
        """Refusal drafts opened the way the refusal rule recognises (after any critique or verification)."""
        if cell.kind != "refusal":
            return drafts
        out = []
        for inp, resp in drafts:
            opened = self.rule.opening(resp)
            if opened != resp:
                self.stats["refusals_opened"] = self.stats.get("refusals_opened", 0) + 1
            out.append((inp, opened))
        return out

    async def _examples(self, cell: Cell, drafts: list[Draft], phase: str, start: int,
                        model: str) -> list[TrainingExample]:
        drafts = self._opened(cell, drafts)
        offset = int(_digest("rejected", phase, _key(cell))[:8], 16)
        labels: list[bool | None] = [None] * len(drafts)
        bad: list[tuple[str, str] | None] = [None] * len(drafts)
        if self.format == "dpo":
            wanted = assign(offset, [start + k for k in range(len(drafts))])
            bad = await make_rejected(self.gw, self.src.task, drafts, wanted, use_cache=self.use_cache,
                                      failures=self.failed_strategies)
        elif self.format == "kto":
            labels = [(offset + start + k) % 2 == 0 for k in range(len(drafts))]
            undesirable = [k for k, lab in enumerate(labels) if not lab]
            wanted = assign(offset, [(start + k) // 2 for k in undesirable])
            made = await make_rejected(self.gw, self.src.task, [drafts[k] for k in undesirable], wanted,
                                       use_cache=self.use_cache, failures=self.failed_strategies)
            for k, m in zip(undesirable, made):
                bad[k] = m
        out: list[TrainingExample] = []
        ids: set[str] = set()
        for k, (inp, good) in enumerate(drafts):
            ex = self._example(cell, phase, model, inp, good, labels[k], bad[k])
            if ex is None or ex.id in ids:
                continue
            ids.add(ex.id)
            out.append(ex)
        return out

    def _example(self, cell: Cell, phase: str, model: str, inp: str, good: str, label: bool | None,
                 bad: tuple[str, str] | None) -> TrainingExample | None:
        prompt = records.prompt_messages(inp)
        strategy_used: str | None = None
        try:
            if self.format == "dpo":
                if bad is None:
                    self.stats["no_rejected"] += 1
                    return None
                strategy_used = bad[0]
                record = records.build("dpo", prompt, good, rejected=bad[1])
            elif self.format == "kto":
                if label is False:
                    if bad is None:
                        self.stats["no_rejected"] += 1
                        return None
                    strategy_used = bad[0]
                    record = records.build("kto", prompt, bad[1], label=False)
                else:
                    record = records.build("kto", prompt, good, label=True)
            elif self.format == "grpo":
                record = records.build("grpo", prompt, extra={
                    "reference": good, "should_refuse": cell.kind == "refusal",
                    "category": cell.category, "difficulty": cell.difficulty,
                })
            else:
                record = records.build(self.format, prompt, good)
            key = json.dumps(record, sort_keys=True, ensure_ascii=False)
            return TrainingExample(
                id=f"{phase}-{_digest(self.format, cell.kind, cell.category, cell.difficulty, key)[:16]}",
                format=self.format,  # type: ignore[arg-type]
                record=record,
                category=cell.category,
                difficulty=cell.difficulty,  # type: ignore[arg-type]
                kind=cell.kind,  # type: ignore[arg-type]
                strategy=self.strategy.name,
                model=model,
                prompt_version=self._version(cell, inp),
                exercises=cell.exercises,
                rejected_strategy=strategy_used,  # type: ignore[arg-type]
                phase=phase,  # type: ignore[arg-type]
            )
        except ValueError:  # pydantic's ValidationError is a ValueError
            self.stats["invalid"] += 1
            return None


__all__ = ["Generator", "MAX_PER_REQUEST", "REJECTED_STRATEGIES", "STAGE"]
