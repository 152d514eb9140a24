"""Gateway throughput: Gateway.complete vs a bare aiohttp client against the same fake server.

The fake OpenAI-compatible server runs in its own process with a fixed latency per reply, so the
ideal rate is concurrency / latency; the ratio gateway / bare shows what litellm and our gateway
cost per call. Run from the repository root::

    python bench/gateway_throughput.py --requests 400 --concurrency 32 --latency 0.25
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, latency: float, jitter: float = 0.0) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm_server", "--port", str(port), "--latency", str(latency),
         "--jitter", str(jitter)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake server did not start")


def messages(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You write short, correct answers."},
        {"role": "user", "content": f"Question {i}: what is {i} + {i}? Answer briefly."},
    ]


async def bare(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    """Requests/s of a plain aiohttp client (one session, a semaphore) posting the same bodies."""
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> str:
            async with sem:
                body = {"model": "fake-model", "messages": messages(i), "temperature": 0.7}
                async with session.post(f"{base_url}/chat/completions", json=body) as resp:
                    resp.raise_for_status()
                    data = await resp.json()
                    return data["choices"][0]["message"]["content"]

        await asyncio.gather(*(one(-i) for i in range(1, concurrency + 1)))  # warm the connections
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / n


async def gateway(n: int, concurrency: int) -> tuple[float, float]:
    """Requests/s through Gateway.complete (cache off), the path every tunesmith call takes."""
    from core.llm import Gateway

    gw = Gateway(max_concurrency=concurrency, timeout_s=30)
    await asyncio.gather(
        *(gw.complete("generator", messages(-i), stage="warmup", use_cache=False) for i in range(1, concurrency + 1))
    )
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(gw.complete("generator", messages(i), stage="bench", use_cache=False) for i in range(n)))
    rate, cpu_ms = n / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / n
    gw.close()
    return rate, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--jitter", type=float, default=0.0, help="server latency varies by +- this fraction")
    parser.add_argument("--rounds", type=int, default=5, help="alternate bare/gateway this many times")
    args = parser.parse_args()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    os.environ.update({
        "TUNESMITH_MODEL": "openai/fake-model",
        "TUNESMITH_API_BASE": base_url,
        "OPENAI_API_KEY": "sk-fake-bench-key-not-secret",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    })
    server = start_server(port, args.latency, args.jitter)
    try:
        t0 = time.perf_counter()
        from core.llm.backend import load_litellm

        load_litellm()
        print(f"litellm import: {time.perf_counter() - t0:.1f}s")
        ideal = args.concurrency / args.latency
        bares, gws, cpu_bare, cpu_gw = [], [], [], []
        for r in range(args.rounds):
            b, cb = asyncio.run(bare(base_url, args.requests, args.concurrency))
            g, cg = asyncio.run(gateway(args.requests, args.concurrency))
            print(f"round {r + 1}: bare aiohttp {b:6.1f} req/s ({cb:.2f} ms CPU/call)   "
                  f"Gateway.complete {g:6.1f} req/s ({cg:.2f} ms CPU/call)   ratio {g / b:.2f}")
            bares.append(b), gws.append(g), cpu_bare.append(cb), cpu_gw.append(cg)
        med = statistics.median
        ratios = [g / b for b, g in zip(bares, gws)]
        print(
            f"\n{args.requests} requests, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms "
            f"(jitter +-{args.jitter:.0%}; ideal {ideal:.0f} req/s), {os.cpu_count()} CPUs, medians of {args.rounds} rounds\n"
            f"bare aiohttp     {med(bares):7.1f} req/s  (client CPU {med(cpu_bare):.2f} ms/call)\n"
            f"Gateway.complete {med(gws):7.1f} req/s  (client CPU {med(cpu_gw):.2f} ms/call)\n"
            f"ratio            {med(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}; goal >= 0.90)"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
