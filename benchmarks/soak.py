"""``make bench-soak``: steady runs with short retention; does Postgres level off?

Against ``graphyard dev`` started as ``make bench`` starts it, with retention set short:
stream events kept ``--retention`` seconds (pruned every ``--prune-every``), threads deleted
``--thread-ttl`` minutes after their last update (swept every ``--sweep-every`` minutes), store
items expiring after ``--store-ttl`` minutes. The load, at a fixed rate (``--rate`` runs/s):
chain runs (10 nodes) on a new thread each, every other one stateless (its thread goes when it
ends), and one store item put per run.

Every minute it prints the size on disk (``pg_total_relation_size``: table, indexes, TOAST) of
every table in graphyard's schema (graphyard's, the checkpointer's, the store's), the requests'
p50 and slowest latency, and the slowest request that overlapped a sweep (a ``DELETE`` seen in
``pg_stat_activity``, polled every 0.2 s). Results go to ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import servers
from benchmarks.park import RESULTS, LoadMeter
from benchmarks.scenarios import CHAIN_INPUT, check, sdk_client

SIZES_SQL = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = current_schema()
ORDER BY 1
"""
SWEEPS_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND query ILIKE 'DELETE%' AND pid <> pg_backend_pid()
"""


@dataclass
class Samples:
    """(start, end, ms) of each request, and the (start, end) of each sweep seen."""

    requests: list[tuple[float, float, float]] = field(default_factory=list)
    sweeps: list[tuple[float, float]] = field(default_factory=list)
    errors: int = 0


def soak_config(tmp: Path, args: argparse.Namespace) -> Path:
    """benchmarks/langgraph.json (absolute paths) with the thread and store TTLs set."""
    config = servers.absolute_config(tmp / "langgraph.json")
    raw = json.loads(config.read_text())
    raw["checkpointer"] = {
        "ttl": {
            "strategy": "delete",
            "default_ttl": args.thread_ttl,
            "sweep_interval_minutes": args.sweep_every,
        }
    }
    raw["store"] = {
        "ttl": {"default_ttl": args.store_ttl, "sweep_interval_minutes": args.sweep_every}
    }
    config.write_text(json.dumps(raw, indent=2))
    return config


async def watch_sweeps(database_uri: str, samples: Samples, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(database_uri, autocommit=True) as conn:
        since: float | None = None
        while not stop.is_set():
            row = await (await conn.execute(SWEEPS_SQL)).fetchone()
            now = time.perf_counter()
            if row and row[0]:
                since = since if since is not None else now - 0.2
            elif since is not None:
                samples.sweeps.append((since, now))
                since = None
            await asyncio.sleep(0.2)


async def drive(url: str, args: argparse.Namespace, samples: Samples, until: float) -> None:
    """One run every 1/rate seconds (whatever the previous ones do), each timed end to end."""
    client = sdk_client(url)
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            if i % 2:
                values = await client.runs.wait(None, "chain", input=CHAIN_INPUT)
            else:
                thread = await client.threads.create()
                values = await client.runs.wait(thread["thread_id"], "chain", input=CHAIN_INPUT)
            check("chain", values)
            await client.store.put_item(("soak", str(i % 100)), str(uuid.uuid4()), {"i": i})
        except Exception as exc:  # counted: a soak that errs is reported, not hidden
            samples.errors += 1
            print(f"    request failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            return
        t1 = time.perf_counter()
        samples.requests.append((t0, t1, (t1 - t0) * 1000))

    i = 0
    start = time.perf_counter()
    while time.perf_counter() < until:
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    await client.http.client.aclose()


async def sizes(database_uri: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(database_uri, autocommit=True) as conn:
        return {str(n): int(s) for n, s in await (await conn.execute(SIZES_SQL)).fetchall()}


def minute_line(minute: int, now: dict[str, int], samples: Samples, t0: float, t1: float) -> str:
    lat = [ms for s, e, ms in samples.requests if t0 <= e < t1]
    in_sweep = [
        ms for s, e, ms in samples.requests if any(a < e and s < b for a, b in samples.sweeps)
    ]
    total = sum(now.values()) / 2**20
    top = sorted(now.items(), key=lambda kv: -kv[1])[:6]
    return (
        f"min {minute:3d}: total {total:6.1f} MB | "
        + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in top)
        + f" | runs {len(lat)}, p50 {statistics.median(lat) if lat else 0:.0f} ms, max "
        f"{max(lat, default=0):.0f} ms | sweeps seen {len(samples.sweeps)}, slowest request "
        f"during one {max(in_sweep, default=0):.0f} ms | errors {samples.errors}"
    )


async def soak(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    assert server.database_uri is not None
    samples = Samples()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_sweeps(server.database_uri, samples, stop))
    t_start = time.perf_counter()
    until = t_start + args.minutes * 60
    driver = asyncio.create_task(drive(server.url, args, samples, until))
    rows: list[dict[str, Any]] = []
    minute = 0
    while not driver.done():
        await asyncio.wait(
            {driver}, timeout=max(0.0, t_start + (minute + 1) * 60 - time.perf_counter())
        )
        minute += 1
        now = await sizes(server.database_uri)
        t1 = time.perf_counter()
        lat = [ms for s, e, ms in samples.requests if t1 - 60 <= e < t1]
        print(minute_line(minute, now, samples, t1 - 60, t1), flush=True)
        rows.append(
            {
                "minute": minute,
                "sizes": now,
                "runs": len(lat),
                "p50_ms": statistics.median(lat) if lat else None,
                "max_ms": max(lat, default=None),
                "sweeps_seen": len(samples.sweeps),
            }
        )
    await driver
    stop.set()
    await watcher
    in_sweep = [
        ms for s, e, ms in samples.requests if any(a < e and s < b for a, b in samples.sweeps)
    ]
    lat = [ms for _, _, ms in samples.requests]
    return {
        "minutes": rows,
        "runs": len(lat),
        "errors": samples.errors,
        "p50_ms": statistics.median(lat) if lat else None,
        "max_ms": max(lat, default=None),
        "sweeps_seen": len(samples.sweeps),
        "slowest_during_sweep_ms": max(in_sweep, default=None),
        "longest_sweep_s": max((b - a for a, b in samples.sweeps), default=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--rate", type=float, default=3.0, help="runs started per second")
    parser.add_argument("--retention", type=int, default=60, help="stream events, seconds")
    parser.add_argument("--prune-every", type=int, default=10, help="seconds")
    parser.add_argument("--thread-ttl", type=float, default=2.0, help="minutes")
    parser.add_argument("--store-ttl", type=float, default=2.0, help="minutes")
    parser.add_argument("--sweep-every", type=float, default=0.5, help="minutes")
    args = parser.parse_args()
    os.environ["GRAPHYARD_STREAM_RETENTION"] = f"PT{args.retention}S"
    os.environ["GRAPHYARD_STREAM_PRUNE_INTERVAL"] = f"PT{args.prune_every}S"
    load = LoadMeter()
    with tempfile.TemporaryDirectory(prefix="graphyard-soak-") as tmp:
        # servers.graphyard reads its config from servers.CONFIG: point it at the soak's.
        servers.CONFIG = soak_config(Path(tmp), args)
        with servers.graphyard(Path(tmp), "local") as server, load.phase("soak"):
            out = asyncio.run(soak(server, args))
    out["settings"] = vars(args)
    out["load"] = load.phases
    for line in load.lines():
        print(line)
    print(
        f"{out['runs']} runs, {out['errors']} errors, p50 {out['p50_ms']:.0f} ms, slowest "
        f"{out['max_ms']:.0f} ms; {out['sweeps_seen']} sweeps seen (longest "
        f"{out['longest_sweep_s'] or 0:.1f} s), slowest request during one "
        f"{out['slowest_during_sweep_ms'] or 0:.0f} ms"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
