"""One group of the pipeline matrix: a preset with framework mode on or off, through all four methods.

The knowledge stage (interview with every answer left empty, i.e. the first suggestion; boundaries and eval
set approved as they stand) runs once per group; the project folder is then copied once per training
method (changing only ``training_method`` in project.toml, as ``tunesmith new --method`` would have set
it), and each copy goes on alone: pilot, scale-up, local training of a tiny model, evaluation against its
untrained base, decision and export. The model behind every role is the unscripted fake (schema-valid
nonsense). Runs in a worker process (see tests/test_pipeline_matrix.py) and returns plain data.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

TASK = ("Help hobby beekeepers plan hive inspections and seasonal tasks through the year, and decline "
        "questions about treating bee stings or allergic reactions")
SLUG = "hive-planner"
METHODS = ("sft", "dpo", "grpo", "kto")
TARGET = 40


def _small(meta: Any, framework: bool) -> None:
    """Sizes for a fast run, and framework mode on or off (nothing else is changed)."""
    meta.config.train.max_steps = 2
    meta.config.train.per_device_train_batch_size = 2
    meta.config.train.gradient_accumulation_steps = 1
    meta.config.evaluate.judge_validation_size = 10
    meta.config.evaluate.judge_samples = 1
    meta.config.evaluate.compare_pairs = False
    ext, gen = meta.config.extract, meta.config.generate
    if framework:
        ext.framework_mode = "enabled"
        ext.framework_sources = list(ext.framework_sources) or ["MECE"]
        gen.framework_mode = True
    else:
        ext.framework_mode = "disabled"
        ext.framework_sources = []
        gen.framework_mode = False
        if gen.generation_strategy == "template":
            gen.generation_strategy = "auto"


def cell_counts(project: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(quota per cell, examples per cell in the finished dataset) of a scale-up."""
    from core.generate.pipeline_parts import load_parts, load_state
    from core.generate.quota_book import QuotaBook, key_of, select

    state = load_state(project)
    kept = select(state.quotas, load_parts(project))
    book = QuotaBook(dict(state.quotas))
    counts: Counter = Counter()
    for ex in kept:
        counts[book.place(key_of(ex))] += 1
    return dict(state.quotas), dict(counts)


def run_group(root: str, preset: str, framework: bool, tiny: str) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch

    torch.set_num_threads(1)  # two workers share two cores: one thread each, no oversubscription
    from core.embed import Embedder
    from core.generate import review as rv
    from tests.e2e import inprocess
    from tests.e2e.driver import Pipeline
    from tests.fakes import fake_env
    from tests.fakes.llm_server import FakeLLMServer
    from tests.fakes.schema_faker import fake_instance, wants_schema
    from tests.test_generate_pipeline import HashEmbedder

    Embedder.for_project = classmethod(lambda cls, project, **kw: HashEmbedder())  # type: ignore[method-assign]
    inprocess.install()
    base = Path(root) / f"{preset}-{'fw' if framework else 'nofw'}"
    out: dict[str, Any] = {"preset": preset, "framework": framework, "methods": {}, "seconds": {}}
    with FakeLLMServer() as srv:
        srv.on(wants_schema, fake_instance)
        pl = Pipeline(base, fake_env(srv.base_url))
        t0 = time.time()
        try:
            pl.cli("new", "Hive Planner", "--task", TASK, "--preset", preset)
            pl.configure(SLUG, lambda m: _small(m, framework))
            pl.cli("interview", SLUG, "--persona", "1", stdin="\n" * 40)
            pl.cli("boundaries", SLUG, "--approve")
            pl.cli("evalset", SLUG, "--size", "50")
            pl.cli("evalset", SLUG, "--approve")
        except AssertionError as exc:
            out["error"] = str(exc)
            return out
        out["seconds"]["extract"] = round(time.time() - t0, 1)
        from core.response_template import template_for

        out["template"] = template_for(pl.project(SLUG)) is not None
        for method in METHODS:
            slug = f"{SLUG}-{method}"
            shutil.copytree(base / SLUG, base / slug, ignore=shutil.ignore_patterns(".lock"))
            toml = base / slug / "project.toml"
            toml.write_text(toml.read_text().replace(f'slug = "{SLUG}"', f'slug = "{slug}"')
                            .replace('training_method = "sft"', f'training_method = "{method}"'))
            res: dict[str, Any] = {}
            t1 = time.time()
            if method == "grpo":  # two short completions per prompt: seconds on a CPU, not minutes
                pl.configure(slug, lambda m: m.config.train.trainer_args.update(
                    num_generations=2, max_completion_length=8))
            try:
                pl.cli("generate", slug, "--pilot")
                rv.approve(pl.project(slug))
                pl.cli("generate", slug, "--scale", "--target", str(TARGET), "--yes")
                p = pl.project(slug)
                res["quotas"], res["cells"] = cell_counts(p)
                res["validated"] = p.meta.is_done("generate", "validated")
                pl.cli("train", slug, "--base-model", tiny, "--yes", "--follow")
                pl.cli("evaluate", slug, "--max-new-tokens", "12")
                pl.cli("decide", slug)
                pl.cli("export", slug)
                folder = base / slug
                res["model"] = any(folder.glob("runs/*/model/config.json")) or any(
                    folder.glob("runs/*/model/adapter_config.json"))
                res["decision"] = any(folder.glob("evals/*/decision.toml"))
                res["exports"] = sorted(x.name for x in (folder / "exports").iterdir())
            except Exception as exc:  # reported by the test with the log
                res["error"] = f"{exc}\n{traceback.format_exc()[-1500:]}"
                res["log"] = "\n".join(pl.log[-3:])[-4000:]
            out["methods"][method] = res
            out.setdefault("steps", {})[method] = pl.seconds[-7:]
            out["seconds"][method] = round(time.time() - t1, 1)
    return out
