"""``make bench``: graphyard on the 10-node chain, each step kind, printed as a table.

Starts ``graphyard dev`` (real Postgres, Temporal, API and worker processes) on free ports in a
temporary folder, then measures through langgraph-sdk as a user would:
- latency: create thread + ``runs.wait``, sequential;
- throughput: runs at a fixed concurrency, each on its own thread;
- streams: the first SSE event after ``runs.stream`` is sent, and how long a token takes from
  the model in a node (``examples/graphs/tokens.py``, whose tokens are their emission times)
  to the client;
- human in the loop (``examples/graphs/approval.py``): create thread + ``runs.wait`` up to the
  interrupt, and the answer (``command.resume``) to the run's end; then many runs left waiting
  at their interrupt, with the worker's CPU and memory while they wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langgraph_sdk import get_client

from graphyard.devstack.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "langgraph.json"
CHAIN_INPUT = {"steps": []}


def start_dev(data_dir: Path, step_kind: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "GRAPHYARD_STEP_ACTIVITY": step_kind, "GRAPHYARD_LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "graphyard", "dev", "--config", str(CONFIG), "--no-ui"]
    argv += ["--data-dir", str(data_dir), "--port", str(port)]
    argv += ["--temporal-port", str(free_port())]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "graphyard is ready" in line:
            return proc, f"http://127.0.0.1:{port}"
    raise RuntimeError("graphyard dev did not start")


async def latency(url: str, n: int) -> list[float]:
    client = get_client(url=url)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "chain", input=CHAIN_INPUT)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def throughput(url: str, total: int, concurrency: int) -> float:
    client = get_client(url=url)
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "chain", input=CHAIN_INPUT)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - t0)


async def first_event(url: str, n: int) -> list[float]:
    client = get_client(url=url)
    samples = []
    for _ in range(n):
        thread = await client.threads.create()
        t0 = time.perf_counter()
        stream = client.runs.stream(thread["thread_id"], "chain", input=CHAIN_INPUT)
        async for _part in stream:
            samples.append((time.perf_counter() - t0) * 1000)
            break
        await stream.aclose()
        await client.runs.join(
            thread["thread_id"], (await client.runs.list(thread["thread_id"]))[0]["run_id"]
        )
    return samples


async def token_latency(url: str, n: int) -> list[float]:
    client = get_client(url=url)
    samples = []
    for _ in range(n):
        thread = await client.threads.create()
        async for part in client.runs.stream(
            thread["thread_id"],
            "tokens",
            input={"messages": [{"type": "human", "content": "hi"}]},
            stream_mode="messages-tuple",
        ):
            if part.event == "messages" and part.data[0]["content"].strip():
                samples.append((time.time() - float(part.data[0]["content"])) * 1000)
    return samples


async def hitl(url: str, n: int) -> tuple[list[float], list[float]]:
    client = get_client(url=url)
    to_interrupt, to_end = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "approval", input={"request": "x"})
        t1 = time.perf_counter()
        await client.runs.wait(thread["thread_id"], "approval", command={"resume": True})
        to_end.append((time.perf_counter() - t1) * 1000)
        to_interrupt.append((t1 - t0) * 1000)
    return to_interrupt, to_end


def _proc(pid: int) -> tuple[float, int]:
    """CPU seconds and resident bytes of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return (int(fields[11]) + int(fields[12])) / ticks, rss_pages * os.sysconf("SC_PAGE_SIZE")


async def waiting_runs(url: str, worker_pid: int, count: int) -> dict[str, float]:
    """Leave ``count`` runs waiting at their interrupt; the worker's CPU while they wait idle
    for 10 s, and its memory growth."""
    client = get_client(url=url)
    _, rss0 = _proc(worker_pid)
    gate = asyncio.Semaphore(20)

    async def one() -> None:
        async with gate:
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "approval", input={"request": "x"})

    await asyncio.gather(*(one() for _ in range(count)))
    cpu1, _ = _proc(worker_pid)
    await asyncio.sleep(10)
    cpu2, rss2 = _proc(worker_pid)
    return {
        "waiting": count,
        "idle_cpu_pct": (cpu2 - cpu1) / 10 * 100,
        "rss_growth_mb": (rss2 - rss0) / 2**20,
        "rss_mb": rss2 / 2**20,
    }


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    url: str, n: int, total: int, concurrency: int, worker_pid: int, waiting: int
) -> dict[str, float]:
    await latency(url, 10)  # warm-up: imports, pools, caches
    samples = await latency(url, n)
    rate = await throughput(url, total, concurrency)
    first = await first_event(url, n)
    tokens = await token_latency(url, max(n // 5, 3))
    to_interrupt, to_end = await hitl(url, n)
    parked = await waiting_runs(url, worker_pid, waiting) if waiting else {}
    return {
        **parked,
        "to_interrupt": statistics.median(to_interrupt),
        "to_end": statistics.median(to_end),
        "p50": statistics.median(samples),
        "p90": pct(samples, 0.9),
        "min": min(samples),
        "runs/s": rate,
        "first": statistics.median(first),
        "token": statistics.median(tokens),
        "token90": pct(tokens, 0.9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50, help="sequential runs for latency")
    parser.add_argument("--total", type=int, default=200, help="runs for throughput")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--kinds", default="local,regular")
    parser.add_argument("--waiting", type=int, default=1000, help="runs left at an interrupt")
    args = parser.parse_args()
    rows = []
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_dev(Path(tmp) / "data", kind)
            try:
                state = json.loads((Path(tmp) / "data" / "dev.json").read_text())
                worker = state["pids"]["worker"]
                figures = measure(url, args.n, args.total, args.concurrency, worker, args.waiting)
                rows.append((kind, asyncio.run(figures)))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    print(
        "\n10-node chain, create thread + runs.wait (ms); throughput at concurrency",
        args.concurrency,
    )
    print(f"{'step activity':<14} {'p50':>8} {'p90':>8} {'min':>8} {'runs/s':>8}")
    for kind, r in rows:
        print(f"{kind:<14} {r['p50']:>8.1f} {r['p90']:>8.1f} {r['min']:>8.1f} {r['runs/s']:>8.1f}")
    print("\nstreams (ms): first SSE event after runs.stream p50; token from node to client")
    print(f"{'step activity':<14} {'first':>8} {'token50':>8} {'token90':>8}")
    for kind, r in rows:
        print(f"{kind:<14} {r['first']:>8.1f} {r['token']:>8.1f} {r['token90']:>8.1f}")
    print("\nhuman in the loop (ms p50): create + wait to the interrupt; answer to the end")
    print(f"{'step activity':<14} {'to int.':>8} {'to end':>8}")
    for kind, r in rows:
        print(f"{kind:<14} {r['to_interrupt']:>8.1f} {r['to_end']:>8.1f}")
    if args.waiting:
        print(f"\n{args.waiting} runs waiting at an interrupt: the worker over 10 s of waiting")
        print(f"{'step activity':<14} {'CPU %':>8} {'RSS MB':>8} {'growth':>8}")
        for kind, r in rows:
            print(
                f"{kind:<14} {r['idle_cpu_pct']:>8.1f} {r['rss_mb']:>8.1f} "
                f"{r['rss_growth_mb']:>8.1f}"
            )


if __name__ == "__main__":
    main()
