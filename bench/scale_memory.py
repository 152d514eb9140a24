"""Scale-up memory by target: peak RSS of a scale-up at 2,000 / 20,000 / 1,000,000 examples.

Each target runs in its own process (so each peak is its own), against the fake OpenAI-compatible server
in a further process (latency 0, hash embeddings: the pipeline's own memory, not the embedding model's).
A project is set up and its pilot generated and approved; then ``run_scale`` starts. The 2,000 run goes to
the end (finalising included); the bigger ones stop after ``--parts`` checkpointed parts (the same number
of batches for each), which is what "memory bounded by the batch, not the target" is about. Also reported:
how long planning the quota cells takes and how many there are, up to a target of 10^12.

    python bench/scale_memory.py                      # 2k full, 20k and 1M stopped after 20 parts
    python bench/scale_memory.py --targets 2000 1000000 --parts 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class Stop(Exception):
    """The benchmark has seen enough parts."""


def child(target: int, parts: int, base_url: str) -> dict:
    import generation_throughput as gt

    from core.embed import Embedder
    from core.generate import pipeline as pl
    from core.generate import pipeline_scale as sc
    from core.llm.gateway import Gateway
    from tests.test_generate_pipeline import HashEmbedder, approve_pilot, ready_project

    Embedder.for_project = classmethod(lambda cls, project, **kw: HashEmbedder())  # type: ignore[method-assign]
    project = ready_project()

    def gateway() -> Gateway:
        return Gateway(roles=project.meta.models, cache_dir=None, max_concurrency=16, timeout_s=60)

    pl.run_pilot(project, gateway())
    approve_pilot(project)
    t = time.perf_counter()
    cells = sc.quotas_for(project, target)
    plan_ms = (time.perf_counter() - t) * 1000
    before = gt.current_rss_mb()
    seen = {"parts": 0, "kept": 0}

    def progress(event: pl.GenerationProgress) -> None:
        if event.part:
            seen["parts"] += 1
            seen["kept"] = event.kept
            if parts and seen["parts"] >= parts and event.kept < event.target:
                raise Stop()

    t = time.perf_counter()
    finished = True
    try:
        sc.run_scale(project, gateway(), target=target, progress=progress)
    except Stop:
        finished = False
    return {"target": target, "cells": len(cells), "plan_ms": round(plan_ms, 2), "rss_before_mb": round(before),
            "rss_end_mb": round(gt.current_rss_mb()), "peak_mb": round(gt.rss_mb()), "parts": seen["parts"],
            "kept": seen["kept"], "finished": finished, "seconds": round(time.perf_counter() - t, 1)}


def plan_times() -> list[tuple[int, float, int]]:
    from core.generate.plan import split_cells

    kw = dict(categories=[("billing", 3.0), ("paperwork", 2.0), ("planning", 1.0)],
              competencies=["give concrete next steps"], edge_cases=["the user mixes two unrelated problems"],
              will_not=["give binding legal advice", "diagnose medical conditions"])
    out = []
    for n in (2_000, 20_000, 1_000_000, 10**12):
        t = time.perf_counter()
        cells = split_cells(n, **kw)
        out.append((n, (time.perf_counter() - t) * 1000, len(cells)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[2_000, 20_000, 1_000_000])
    parser.add_argument("--parts", type=int, default=20, help="stop the targets above 2,000 after this many parts")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.parts, args.base_url)), flush=True)
        return
    import generation_throughput as gt

    port = gt.free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    server = gt.start_server(port, 0.0, 0.0, "sft")
    results = []
    try:
        for target in args.targets:
            with tempfile.TemporaryDirectory(prefix="tunesmith-scale-mem-") as tmp:
                env = {**os.environ, "TUNESMITH_MODEL": "openai/fake-model", "TUNESMITH_API_BASE": base_url,
                       "OPENAI_API_KEY": "sk-fake-bench-key-not-secret", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                       "TUNESMITH_PROJECTS": str(Path(tmp) / "projects"), "HF_HUB_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false", "TUNESMITH_ALLOW_LARGE_TARGET": "1"}
                parts = 0 if target <= 2_000 else args.parts
                r = subprocess.run([sys.executable, __file__, "--child", str(target), "--parts", str(parts),
                                    "--base-url", base_url], env=env, cwd=ROOT, capture_output=True, text=True)
                line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
                if not line:
                    print(r.stdout[-2000:], r.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"the {target} run failed")
                res = json.loads(line[0].removeprefix("RESULT "))
                results.append(res)
                print(res, flush=True)
    finally:
        server.terminate()
        server.wait(10)
    print("\n| target | run | quota cells (plan) | before the scale-up | end of the run | peak of the run |")
    print("|---|---|---|---|---|---|")
    for r in results:
        run = (f"to the end: {r['kept']:,} kept, {r['parts']} parts, {r['seconds']} s" if r["finished"] else
               f"stopped after {r['parts']} parts ({r['kept']:,} kept, {r['seconds']} s)")
        print(f"| {r['target']:,} | {run} | {r['cells']} ({r['plan_ms']:.1f} ms) | {r['rss_before_mb']:,} MB | "
              f"{r['rss_end_mb']:,} MB | **{r['peak_mb']:,} MB** |")
    print("\nplanning alone: " + "; ".join(f"{n:,}: {ms:.2f} ms, {c} cells" for n, ms, c in plan_times()))


if __name__ == "__main__":
    main()
