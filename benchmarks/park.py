"""``make bench-park``: park N runs at an interrupt, watch them wait, resume them all at once.

Against ``graphyard dev`` started as ``make bench`` starts it (benchmarks/servers.py), with the
``park`` graph (benchmarks/graphs/park.py): ``draft -> ask (interrupt) -> act``.

1. Park: N threads, each a ``runs.wait`` to the interrupt (``--concurrency`` at a time); time
   until the last is parked, and the CPU each part (API, workers, Temporal, Postgres) spent.
2. Wait: each worker's resident memory, then ``--idle-seconds`` of CPU per process.
3. Resume: one ``Command(resume=...)`` run create per thread, all issued at once (the client
   holds ``--resume-concurrency`` requests in flight); time until Postgres shows every run
   ``success``.
4. Check: every run ``success``; ``act`` ran exactly once per thread (its log file) and the
   state of a sample of threads says ``acted == 1``.

``python -m benchmarks.park --count 10000``; extra worker settings as ``--env KEY=VALUE``
(e.g. ``--env GRAPHYARD_MAX_CACHED_WORKFLOWS=100``). Results go to
``benchmarks/results/park-<N>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from langgraph_sdk.client import LangGraphClient

from benchmarks import servers
from benchmarks.graphs.park import LOG_VARIABLE
from benchmarks.scenarios import sdk_client

RESULTS = Path(__file__).resolve().parent / "results"
PARK_INPUT = {"request": "x"}
STEP_TIMEOUT_S = 3600.0


class LoadMeter:
    """The machine's CPU use during a block, ours (this process tree) and the rest (other work
    on a shared machine), in cores."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        busy0 = servers.machine_busy()[0]
        ours0 = servers.tree_cpu(servers.tree(os.getpid()))
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            busy = (servers.machine_busy()[0] - busy0) / servers.TICKS
            ours = servers.tree_cpu(servers.tree(os.getpid())) - ours0
            self.phases[name] = {
                "wall_s": round(wall, 1),
                "loadavg_start": round(load0, 1),
                "loadavg_end": round(os.getloadavg()[0], 1),
                "ours_cores": round(ours / wall, 2),
                "others_cores": round(max(0.0, busy - ours) / wall, 2),
            }

    def lines(self) -> list[str]:
        return [
            f"load during {name}: {p['wall_s']} s, ours {p['ours_cores']} cores, others "
            f"{p['others_cores']} cores, loadavg {p['loadavg_start']} -> {p['loadavg_end']}"
            for name, p in self.phases.items()
        ]


def rss_mb(server: servers.Server) -> dict[str, float]:
    """Resident MB of each worker process and of each other part's process tree."""
    out = {f"worker pid {pid}": servers.rss_bytes(pid) / 2**20 for pid in server.worker_pids}
    for part, roots in server.parts.items():
        if part != "worker":
            pids = [p for root in roots for p in servers.tree(root)]
            out[part] = sum(servers.rss_bytes(p) for p in pids) / 2**20
    return out


def per_process_parts(server: servers.Server) -> dict[str, tuple[int, ...]]:
    parts = {k: v for k, v in server.parts.items() if k != "worker"}
    parts.update({f"worker pid {pid}": (pid,) for pid in server.worker_pids})
    return parts


async def park(client: LangGraphClient, count: int, concurrency: int) -> tuple[list[str], int]:
    """N threads each left at the interrupt; (thread ids, runs that did not get there)."""
    gate = asyncio.Semaphore(concurrency)
    threads: list[str] = []
    stuck = 0

    async def one() -> None:
        nonlocal stuck
        async with gate:
            thread = await client.threads.create()
            tid = str(thread["thread_id"])
            try:
                paused = await asyncio.wait_for(
                    client.runs.wait(tid, "park", input=PARK_INPUT), STEP_TIMEOUT_S
                )
            except TimeoutError:
                stuck += 1
                return
            if not isinstance(paused, dict) or not paused.get("__interrupt__"):
                raise RuntimeError(f"park did not stop at its interrupt: {str(paused)[:200]}")
            threads.append(tid)
            if len(threads) % max(1, count // 10) == 0:
                print(f"    parked {len(threads)}", flush=True)

    await asyncio.gather(*(one() for _ in range(count)))
    return threads, stuck


async def statuses(database_uri: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(database_uri, autocommit=True) as conn:
        cur = await conn.execute("SELECT status, count(*) FROM runs GROUP BY status")
        return {str(s): int(n) for s, n in await cur.fetchall()}


async def resume_all(
    client: LangGraphClient, database_uri: str, threads: list[str], concurrency: int
) -> dict[str, float]:
    """Answer every parked run at once; seconds until the last answer was accepted and until
    Postgres shows every run ended."""
    before = await statuses(database_uri)
    done_before = before.get("success", 0)
    gate = asyncio.Semaphore(concurrency)

    async def one(tid: str) -> None:
        async with gate:
            await client.runs.create(tid, "park", command={"resume": True})

    t0 = time.perf_counter()
    sender = asyncio.gather(*(one(t) for t in threads))
    sent_s: float | None = None
    deadline = t0 + STEP_TIMEOUT_S
    reported = 0
    while True:
        if sent_s is None and sender.done():
            await sender  # raises a failed create
            sent_s = time.perf_counter() - t0
        now = await statuses(database_uri)
        ended = now.get("success", 0) - done_before
        if int(ended * 10 / len(threads)) > int(reported * 10 / len(threads)):
            print(f"    resumed {ended} in {time.perf_counter() - t0:.0f} s", flush=True)
            reported = ended
        if ended >= len(threads):
            drained = time.perf_counter() - t0
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not drained after {STEP_TIMEOUT_S:.0f} s: {now}")
        await asyncio.sleep(0.5)
    await sender
    return {"resume_sent_s": sent_s or drained, "resume_drain_s": drained}


async def check(
    client: LangGraphClient, database_uri: str, threads: list[str], log: Path, sample: int
) -> dict[str, Any]:
    """Every run success; ``act`` logged once per thread; a sample's state says acted == 1."""
    counts = collections.Counter(log.read_text().split())
    wanted = set(threads)
    missing = sum(1 for t in threads if counts[t] == 0)
    twice = sum(1 for t in threads if counts[t] > 1)
    stray = sum(1 for t in counts if t not in wanted)
    wrong_state = 0
    for tid in random.sample(threads, min(sample, len(threads))):
        values = (await client.threads.get_state(tid))["values"]
        if not isinstance(values, dict) or values.get("acted") != 1:
            wrong_state += 1
    return {
        "statuses": await statuses(database_uri),
        "act_missing": missing,
        "act_twice": twice,
        "act_stray": stray,
        "state_sampled": min(sample, len(threads)),
        "state_wrong": wrong_state,
    }


async def measure(server: servers.Server, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    assert server.database_uri is not None
    client = sdk_client(server.url)
    load = LoadMeter()
    out: dict[str, Any] = {"count": args.count}
    # Warm-up: the graph loaded, connections open, in every worker.
    warm, _ = await park(client, 10, 10)
    await resume_all(client, server.database_uri, warm, 10)
    log.write_text("")
    out["rss_mb_before"] = rss_mb(server)
    meter = servers.CpuMeter(server.parts)
    meter.start()
    t0 = time.perf_counter()
    with load.phase("park"):
        threads, stuck = await park(client, args.count, args.concurrency)
    out["park_s"] = time.perf_counter() - t0
    out["park_stuck"] = stuck
    out["park_cpu_ms_per_run"] = {k: v * 1000 / args.count for k, v in meter.stop().items()}
    await asyncio.sleep(2)  # let the last acknowledgements settle
    out["rss_mb_parked"] = rss_mb(server)
    print(f"parked {len(threads)} in {out['park_s']:.1f} s; {_fmt(out, 'park_cpu_ms_per_run')}")
    print(f"rss_mb_parked: {_fmt(out, 'rss_mb_parked')}", flush=True)
    idle = servers.CpuMeter(per_process_parts(server))
    with load.phase("idle"):
        idle.start()
        await asyncio.sleep(args.idle_seconds)
        out["idle_cpu_pct"] = {k: v / args.idle_seconds * 100 for k, v in idle.stop().items()}
    out["rss_mb_idle_end"] = rss_mb(server)
    print(f"idle CPU %: {_fmt(out, 'idle_cpu_pct', 2)}", flush=True)
    save(out, args, "partial")
    meter.start()
    with load.phase("resume"):
        out.update(await resume_all(client, server.database_uri, threads, args.resume_concurrency))
    out["resume_cpu_ms_per_run"] = {k: v * 1000 / args.count for k, v in meter.stop().items()}
    out["rss_mb_drained"] = rss_mb(server)
    out["check"] = await check(client, server.database_uri, threads, log, args.sample)
    out["load"] = load.phases
    await client.http.client.aclose()
    for line in load.lines():
        print(line)
    return out


def _fmt(out: dict[str, Any], key: str, digits: int = 1) -> str:
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in out[key].items())


def save(out: dict[str, Any], args: argparse.Namespace, suffix: str = "") -> None:
    RESULTS.mkdir(exist_ok=True)
    parts = [f"park-{args.count}", args.label, suffix]
    (RESULTS / ("-".join(p for p in parts if p) + ".json")).write_text(json.dumps(out, indent=2))


def report(out: dict[str, Any]) -> str:
    n = out["count"]
    lines = [
        f"park {n} runs at an interrupt: {out['park_s']:.1f} s "
        f"({n / out['park_s']:.1f} runs/s), {out['park_stuck']} stuck",
        "CPU ms per parked run: "
        + ", ".join(f"{k} {v:.1f}" for k, v in out["park_cpu_ms_per_run"].items()),
    ]
    for key in ("rss_mb_before", "rss_mb_parked", "rss_mb_idle_end", "rss_mb_drained"):
        lines.append(f"{key}: " + ", ".join(f"{k} {v:.0f}" for k, v in out[key].items()))
    lines.append(
        "idle CPU % while they wait: "
        + ", ".join(f"{k} {v:.2f}" for k, v in out["idle_cpu_pct"].items())
    )
    lines.append(
        f"resume all {n} at once: accepted in {out['resume_sent_s']:.1f} s, drained in "
        f"{out['resume_drain_s']:.1f} s ({n / out['resume_drain_s']:.1f} runs/s)"
    )
    lines.append(
        "CPU ms per resumed run: "
        + ", ".join(f"{k} {v:.1f}" for k, v in out["resume_cpu_ms_per_run"].items())
    )
    c = out["check"]
    lines.append(
        f"check: statuses {c['statuses']}; act missing {c['act_missing']}, twice "
        f"{c['act_twice']}, stray {c['act_stray']}; state wrong {c['state_wrong']} of "
        f"{c['state_sampled']} sampled"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50, help="runs parked at a time")
    parser.add_argument("--resume-concurrency", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--sample", type=int, default=200, help="threads whose state is read")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for graphyard")
    parser.add_argument("--label", default="", help="appended to the results file's name")
    args = parser.parse_args()
    for item in args.env:
        key, _, value = item.partition("=")
        os.environ[key] = value
    with tempfile.TemporaryDirectory(prefix="graphyard-park-") as tmp:
        log = Path(tmp) / "act.log"
        log.touch()
        os.environ[LOG_VARIABLE] = str(log)
        with servers.graphyard(Path(tmp), "local") as server:
            out = asyncio.run(measure(server, args, log))
    out["env"] = args.env
    print(report(out))
    save(out, args)
    c = out["check"]
    bad = c["act_missing"] + c["act_twice"] + c["act_stray"] + c["state_wrong"]
    if bad or out["park_stuck"] or set(c["statuses"]) != {"success"}:
        raise SystemExit("runs lost, stuck or run twice: see above")


if __name__ == "__main__":
    main()
