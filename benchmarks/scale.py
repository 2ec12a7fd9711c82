"""``make bench-scale``: does a call cost the same once the database holds months of data?

One ``graphyard dev`` stack (Postgres, Temporal, API, workers, as ``make bench`` starts it).
``scale_data.seed`` writes the threads the per-thread calls read (1,000 runs; 1,000
checkpoints); then every call below is timed on that otherwise empty database, the database is
filled (``scale_data.fill``, ``--size`` runs) and every call is timed again, in the same run,
through the official ``langgraph_sdk`` client. Prints the empty-vs-full table with ratios
(target: each at most 1.5x) and writes it, with the fill's time and size, to a JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from benchmarks import scale_data, servers
from benchmarks.scale_data import SEARCH_USER, Seeded

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 1.5
Call = Callable[[], Awaitable[Any]]


def calls(client: LangGraphClient, seeded: Seeded) -> dict[str, Call]:
    """The timed calls, by label. Every one reads a fixed amount (a page, a thread's latest
    state, one run): none should care how many other rows the tables hold."""
    user = {"user_id": SEARCH_USER}

    async def create_wait() -> Any:
        thread = await client.threads.create(metadata=user)
        return await client.runs.wait(thread["thread_id"], "chain", input={"steps": []})

    return {
        # The same fixed work in both rounds: how much slower the machine itself was.
        "GET /ok (control)": lambda: client.http.get("/ok"),
        "create+wait chain": create_wait,
        "threads.search metadata": lambda: client.threads.search(metadata=user, limit=10),
        "threads.search status=interrupted": lambda: client.threads.search(
            status="interrupted", limit=10
        ),
        "threads.search status=idle": lambda: client.threads.search(status="idle", limit=10),
        "threads.count (all)": lambda: client.threads.count(),
        "threads.count metadata": lambda: client.threads.count(metadata=user),
        "threads.count status=busy": lambda: client.threads.count(status="busy"),
        "runs.list (1,000 runs)": lambda: client.runs.list(seeded.hot_thread, limit=10),
        "get_state (1,000 checkpoints)": lambda: client.threads.get_state(seeded.history_thread),
        "get_history limit=10": lambda: client.threads.get_history(seeded.history_thread, limit=10),
        "runs.join (finished)": lambda: client.runs.join(seeded.hot_thread, seeded.finished_run),
        "store.search": lambda: client.store.search_items(("users", SEARCH_USER), limit=10),
        "crons.search": lambda: client.crons.search(assistant_id=seeded.assistant_id, limit=10),
        "GET /runs/dead": lambda: client.http.get("/runs/dead", params={"limit": 10}),
    }


async def _time(call: Call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    url: str, seeded: Seeded, n: int, n_runs: int, passes: int = 5
) -> dict[str, dict[str, float]]:
    """p50 and p95 (ms) of each call, one call at a time. The samples are taken in ``passes``
    rounds over all the calls, so that a burst of other work on the machine lands on every
    call a little rather than on one call whole."""
    client = get_client(url=url)
    todo = calls(client, seeded)
    samples: dict[str, list[float]] = {label: [] for label in todo}
    for call in todo.values():
        await _time(call, 3)  # warm-up: connections, caches, the graph compiled
    for _ in range(passes):
        for label, call in todo.items():
            count = n_runs if label.startswith("create") else n
            samples[label] += await _time(call, max(count // passes, 1))
    return {
        label: {"p50": statistics.median(s), "p95": _p(s, 0.95), "n": len(s)}
        for label, s in samples.items()
    }


def others_cores(round_: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``round_``; also return the cores that other work on this shared machine used
    meanwhile (all busy CPU but this process's tree, which holds the stack)."""
    busy0 = servers.machine_busy()[0]
    ours0 = servers.tree_cpu(servers.tree(os.getpid()))
    began = time.perf_counter()
    result = round_()
    wall = time.perf_counter() - began
    busy = (servers.machine_busy()[0] - busy0) / servers.TICKS
    ours = servers.tree_cpu(servers.tree(os.getpid())) - ours0
    return result, max(0.0, busy - ours) / wall


def table(empty: dict[str, dict[str, float]], full: dict[str, dict[str, float]]) -> str:
    lines = [
        "| call | empty p50 | empty p95 | full p50 | full p95 | p50 ratio | p95 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, e in empty.items():
        f = full[label]
        r50, r95 = f["p50"] / e["p50"], f["p95"] / e["p95"]
        flag = "" if max(r50, r95) <= TARGET else " ✗"
        lines.append(
            f"| {label} | {e['p50']:.1f} | {e['p95']:.1f} | {f['p50']:.1f} | {f['p95']:.1f} "
            f"| {r50:.2f}x | {r95:.2f}x{flag} |"
        )
    return "\n".join(lines)


def seq_scans(dsn: str) -> dict[str, tuple[int, int, int]]:
    """Per table: sequential scans, rows they read, live rows."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT relname, seq_scan, seq_tup_read, n_live_tup FROM pg_stat_user_tables"
        ).fetchall()
    return {r[0]: (int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in rows}


def _delta(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict[str, tuple[int, int]]:
    """Tables of more than 1,000 rows scanned whole in between: a query without its index."""
    out = {}
    for name, (scans, read, live) in after.items():
        was = before.get(name, (0, 0, 0))
        if live > 1000 and scans > was[0]:
            out[name] = (scans - was[0], read - was[1])
    return out


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--size", default="100k", help="runs in the fill: 100k, 1m, ...")
    parser.add_argument("--n", type=int, default=40, help="samples per read call")
    parser.add_argument("--runs", type=int, default=20, help="samples of create+wait")
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/scale-SIZE.json")
    return parser.parse_args()


def main() -> None:
    args = _parse()
    runs = scale_data.parse_size(args.size)
    # The fill's stream events are as old as their runs (up to 180 days): kept for the whole
    # benchmark, not pruned under it by the workers' one-day default.
    os.environ["GRAPHYARD_STREAM_RETENTION"] = "P400D"
    with tempfile.TemporaryDirectory() as tmp, servers.graphyard(Path(tmp), "local") as server:
        assert server.database_uri is not None
        seeded = scale_data.seed(server.database_uri)
        print(f"seeded: {seeded}", flush=True)
        empty, others_empty = others_cores(
            lambda: asyncio.run(measure(server.url, seeded, args.n, args.runs))
        )
        empty_bytes = scale_data.database_bytes(server.database_uri)
        print(f"empty round done; filling {runs:,} runs ...", flush=True)
        filled = scale_data.fill(server.database_uri, runs, seeded)
        full_bytes = scale_data.database_bytes(server.database_uri)
        print(
            f"filled in {filled.seconds:.1f} s (+{filled.vacuum_seconds:.1f} s VACUUM ANALYZE):"
            f" {filled.counts}; database "
            f"{empty_bytes / 2**20:.0f} MiB -> {full_bytes / 2**20:.0f} MiB",
            flush=True,
        )
        before = seq_scans(server.database_uri)
        full, others_full = others_cores(
            lambda: asyncio.run(measure(server.url, seeded, args.n, args.runs))
        )
        # Backends flush their table statistics within a second of going idle.
        time.sleep(2)
        scanned = _delta(before, seq_scans(server.database_uri))
    print(table(empty, full))
    print(
        f"other work on the machine: {others_empty:.2f} cores (empty round), "
        f"{others_full:.2f} cores (full round)"
    )
    if scanned:
        print("sequential scans of filled tables during the full round (table: scans, rows read):")
        for name, (scans, rows) in scanned.items():
            print(f"  {name}: {scans}, {rows:,}")
    dest = args.json or RESULTS / f"scale-{args.size}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "size": args.size,
        "fill_seconds": filled.seconds,
        "vacuum_analyze_seconds": filled.vacuum_seconds,
        "seq_scans_full_round": scanned,
        "others_cores": {"empty": others_empty, "full": others_full},
        "rows": filled.counts,
        "database_bytes": {"empty": empty_bytes, "full": full_bytes},
        "empty": empty,
        "full": full,
    }
    dest.write_text(json.dumps(result, indent=2))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
