"""Generation throughput and memory: the scale-up pipeline against a bare aiohttp client.

The fake OpenAI-compatible server (tests/fakes/llm_server.py answering the generation schemas with
tests/fakes/generate_replies.py) runs in its own process with a fixed latency per reply. A project is set
up, its pilot generated and approved (not timed); then ``run_scale`` generates ``--target`` examples
while every request it sends is recorded. The streaming phase is timed (from the start of generation to
the part that reaches the target: generation, filtering, checkpointed parts). Then a bare aiohttp client
sends exactly the recorded requests at the same concurrency to the same server. Reported:

- requests/s of the pipeline vs the bare client (goal >= 0.95);
- kept, filtered examples/s of the pipeline vs the examples/s the bare client's replies carried
  (the same requests produced the same candidate examples; goal >= 0.8);
- peak RSS of the whole process (``resource.getrusage``), and the RSS before the scale-up.

``--embedder minilm`` (default) filters with the real all-MiniLM-L6-v2 on the CPU; ``--embedder hash``
replaces it with a hash-seeded random vector per text (tests' HashEmbedder), which isolates the pipeline's
own cost from the embedding model's. Run from the repository root::

    python bench/generation_throughput.py --target 400 --latency 0.25
    python bench/generation_throughput.py --target 400 --latency 0.25 --embedder hash
    python bench/generation_throughput.py --target 10000 --latency 0 --embedder hash --no-bare   # memory
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, latency: float, jitter: float, method: str) -> None:
    """The server process: the fake LLM with the generation rules."""
    from aiohttp import web

    from tests.fakes.generate_replies import install
    from tests.fakes.llm_server import FakeLLMServer

    server = FakeLLMServer(latency=latency, port=port, jitter=jitter)
    install(server, method=method)
    server.requests = _Sink()  # type: ignore[assignment]  # a long run must not keep every request
    server.times = _Sink()  # type: ignore[assignment]
    web.run_app(server.app(), host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


class _Sink(list):
    def append(self, item: object) -> None:
        pass


def start_server(port: int, latency: float, jitter: float, method: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(latency),
                             "--jitter", str(jitter), "--method", method], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake server did not start")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def bare(base_url: str, bodies: list[dict], concurrency: int) -> float:
    """Seconds a plain aiohttp client (one session, a semaphore) takes to send ``bodies``."""
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(body: dict) -> None:
            async with sem:
                async with session.post(f"{base_url}/chat/completions", json=body) as resp:
                    await resp.read()

        await asyncio.gather(*(one(b) for b in bodies[:concurrency]))  # warm the connections
        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16, help="the gateway's max_concurrency")
    parser.add_argument("--method", default="sft", choices=("sft", "dpo", "grpo", "kto"))
    parser.add_argument("--embedder", default="minilm", choices=("minilm", "hash"))
    parser.add_argument("--no-bare", action="store_true", help="skip the bare client (memory runs)")
    parser.add_argument("--diversity-threshold", type=float, help="override quality_thresholds.diversity_threshold "
                        "(the fake's templated texts grow alike: 10,000 of them need a looser threshold)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency, args.jitter, args.method)
        return

    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    tmp = tempfile.TemporaryDirectory(prefix="tunesmith-bench-")
    os.environ.update({
        "TUNESMITH_MODEL": "openai/fake-model", "TUNESMITH_API_BASE": base_url,
        "OPENAI_API_KEY": "sk-fake-bench-key-not-secret", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TUNESMITH_PROJECTS": str(Path(tmp.name) / "projects"), "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    })
    server = start_server(port, args.latency, args.jitter, args.method)
    try:
        run(args, base_url)
    finally:
        server.terminate()
        server.wait(10)
        tmp.cleanup()


def run(args: argparse.Namespace, base_url: str) -> None:
    from core.embed import Embedder
    from core.generate import pipeline as pl
    from core.generate import pipeline_scale as sc
    from core.llm.backend import load_litellm
    from core.llm.gateway import Gateway
    from tests.test_generate_pipeline import HashEmbedder, approve_pilot, ready_project

    if args.embedder == "hash":
        Embedder.for_project = classmethod(lambda cls, project, **kw: HashEmbedder())  # type: ignore[method-assign]
    project = ready_project(method=args.method)
    if args.diversity_threshold:
        project.meta.config.generate.quality_thresholds.diversity_threshold = args.diversity_threshold
        project.save()

    def gateway() -> Gateway:
        return Gateway(roles=project.meta.models, cache_dir=None, max_concurrency=args.concurrency, timeout_s=60)

    t = time.perf_counter()
    pl.run_pilot(project, gateway())
    approve_pilot(project)
    print(f"setup: pilot of 50 in {time.perf_counter() - t:.1f}s; RSS {current_rss_mb():.0f} MB "
          f"(peak {rss_mb():.0f} MB)", flush=True)

    litellm = load_litellm()
    original = litellm.acompletion
    recorded: list[dict] = []

    async def recording(**kw):
        recorded.append({"model": kw["model"].split("/", 1)[-1], "messages": kw["messages"],
                         **{k: kw[k] for k in ("temperature", "response_format", "max_tokens", "seed") if k in kw}})
        return await original(**kw)

    litellm.acompletion = recording
    marks: dict[str, float] = {}
    last = {"kept": 0, "checked": 0}

    def progress(event: pl.GenerationProgress) -> None:
        now = time.perf_counter()
        if event.message.startswith("scale-up to"):
            marks["start"], marks["cpu0"] = now, time.process_time()
        if event.part:
            last.update(kept=event.kept, checked=event.done)
            if event.kept >= event.target and "end" not in marks:
                marks["end"], marks["requests"], marks["cpu1"] = now, len(recorded), time.process_time()
                marks["rss_end"], marks["peak_end"] = current_rss_mb(), rss_mb()
            if event.part % 10 == 0:
                print(f"  {event}", flush=True)

    rss_before = current_rss_mb()
    t = time.perf_counter()
    report = sc.run_scale(project, gateway(), target=args.target, progress=progress)
    total = time.perf_counter() - t
    litellm.acompletion = original
    dt = marks["end"] - marks["start"]
    n_req = marks["requests"]
    kept, checked = last["kept"], last["checked"]
    print(f"\nscale-up of {args.target} ({args.method}, {args.embedder} embeddings), latency "
          f"{args.latency * 1000:.0f} ms (jitter ±{args.jitter:.0%}), concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs")
    print(f"pipeline   {n_req / dt:7.1f} req/s  {checked / dt:7.1f} checked/s  {kept / dt:7.1f} kept/s "
          f"({n_req} requests, {checked} checked, {kept} kept in {dt:.1f}s; whole run_scale {total:.1f}s "
          f"incl. context and finalising; pass rate {report.pass_rate:.0%})")
    cpu = marks["cpu1"] - marks["cpu0"]
    print(f"CPU        {cpu:.1f}s of CPU in {dt:.1f}s ({cpu / dt:.0%} of one core; all threads), "
          f"{cpu / max(1, n_req) * 1000:.1f} ms per request, {cpu / max(1, checked) * 1000:.1f} ms per example")
    print(f"memory     RSS {rss_before:.0f} MB before the scale-up; when the target was reached {marks['rss_end']:.0f} "
          f"MB (peak so far {marks['peak_end']:.0f} MB); peak after finalising (imports trl for the format "
          f"check) {rss_mb():.0f} MB")
    if args.no_bare:
        return
    bodies = recorded[:n_req]
    t_bare = asyncio.run(bare(base_url, bodies, args.concurrency))
    print(f"bare       {len(bodies) / t_bare:7.1f} req/s  {checked / t_bare:7.1f} examples/s (the same "
          f"{len(bodies)} requests in {t_bare:.1f}s)")
    print(f"ratio      requests {t_bare / dt:.3f} (goal >= 0.95)   kept examples {kept / dt / (checked / t_bare):.3f} "
          f"(goal >= 0.8)")


if __name__ == "__main__":
    main()
