"""Fill a graphyard database the way months of use would: ``python -m benchmarks.scale_data
--dsn postgresql://... --size 100k`` (``make bench-scale`` calls it between its two rounds).

``--size`` counts runs: ``1m`` is 100,000 threads with 10 runs each (1,000,000 runs),
10,000,000 stream events, 1,000,000 checkpoints, 100,000 store items and 10,000 crons; ``100k``
a tenth of that. Rows go in with ``COPY`` straight into graphyard's tables (and langgraph's
checkpoint and store tables), shaped as graphyard writes them: thread metadata with a few keys,
every thread and run status, a run's kwargs as ``runs/kwargs.py`` keeps them, ten stream events
per run, real checkpoints (cloned from a real run of the ``chain`` graph on langgraph's saver).

``seed`` writes what the per-thread figures read, once, before the empty round: a thread with
1,000 runs and a thread with 1,000 checkpoints (84 real invocations of ``chain``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from benchmarks import scale_rows
from graphyard.storage import thread_counts

CHAIN = Path(__file__).resolve().parent.parent / "examples" / "graphs" / "chain.py"
CHECKPOINTS_PER_THREAD = 10
HOT_RUNS = 1_000
HOT_CHECKPOINTS = 1_000


def parse_size(text: str) -> int:
    """``100k`` / ``1m`` / ``250000``: a number of runs."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


@dataclass(frozen=True)
class Seeded:
    """What ``seed`` made: the ids the per-thread figures use."""

    assistant_id: str
    hot_thread: str  # 1,000 runs
    finished_run: str  # one of them, ended, with its stream
    history_thread: str  # 1,000 checkpoints


def _chain_builder() -> Any:
    # Registered before exec: the module's dataclasses and annotations look themselves up.
    spec = importlib.util.spec_from_file_location("_scale_chain", CHAIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.builder


def _connect(dsn: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(dsn, autocommit=True, row_factory=dict_row, prepare_threshold=None)


def _assistant(conn: psycopg.Connection[dict[str, Any]]) -> str:
    row = conn.execute("SELECT assistant_id FROM assistants WHERE graph_id = 'chain'").fetchone()
    if row is None:
        raise RuntimeError("no assistant for graph 'chain': start graphyard on benchmarks/")
    return str(row["assistant_id"])


#: Whose threads and store items the searches look for: ten threads and ten items of this user
#: in every tenth of the fill, and ten items already in the empty round.
SEARCH_USER = "user-7"


def seed(dsn: str) -> Seeded:
    """The thread with 1,000 runs (one in twenty ended ``error``: the dead letters), the thread
    with 1,000 checkpoints, a dozen threads of each settled status, ten crons and ten store
    items."""
    with _connect(dsn) as conn:
        assistant_id = _assistant(conn)
        hot, history = str(uuid.uuid4()), str(uuid.uuid4())
        start = datetime.now(UTC) - timedelta(days=30)
        meta = scale_rows.metadata(0, 1, assistant_id) | {"user_id": "bench-hot"}
        runs = [
            scale_rows.run_row(
                hot,
                meta,
                start + timedelta(minutes=i),
                "error" if i % 20 == 1 else "success",
                False,
            )
            for i in range(HOT_RUNS)
        ]
        store = [scale_rows.store_row(SEARCH_USER, f"seeded-{i}", i, start) for i in range(10)]
        crons = [
            scale_rows.cron_row(assistant_id, hot, SEARCH_USER, True, start) for _ in range(10)
        ]
        # A few threads of each settled status, so that a search by status reads a full page
        # and counts the rest in both rounds: the same statements, on less or more data.
        others = [
            (str(uuid.uuid4()), meta, start + timedelta(minutes=i), status)
            for status in ("idle", "interrupted", "error")
            for i in range(12)
        ]
        with conn.transaction():
            threads = [(hot, meta, start, "idle"), (history, meta, start, "idle"), *others]
            _copy(conn, "threads", scale_rows.THREAD_COLUMNS, scale_rows.thread_rows(threads))
            _copy(conn, "runs", scale_rows.RUN_COLUMNS, runs)
            _copy(
                conn,
                "run_events",
                scale_rows.EVENT_COLUMNS,
                (e for r in runs for e in scale_rows.events(r)),
            )
            _copy(conn, "store", scale_rows.STORE_COLUMNS, store)
            _copy(conn, "crons", scale_rows.CRON_COLUMNS, crons)
        _history(conn, history, assistant_id, meta)
    return Seeded(assistant_id, hot, str(runs[-1][0]), history)


def _history(
    conn: psycopg.Connection[dict[str, Any]],
    thread_id: str,
    assistant_id: str,
    meta: dict[str, Any],
) -> None:
    """Real invocations of ``chain`` on langgraph's saver, until the thread has 1,000
    checkpoints (twelve per invocation; its ``steps`` grow by ten each time)."""
    graph = _chain_builder().compile(checkpointer=PostgresSaver(conn), name="chain")
    made, values, config = 0, None, {}
    while made < HOT_CHECKPOINTS:
        run_id = str(uuid.uuid4())
        config = {
            "configurable": scale_rows.configurable(thread_id, run_id, assistant_id),
            "metadata": {**meta, "created_by": "system"},
        }
        values = graph.invoke({"steps": []}, config)
        row = conn.execute(
            "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (thread_id,)
        ).fetchone()
        made = int(row["n"]) if row else 0
    conn.execute(
        'UPDATE threads SET "values" = %s, config = %s WHERE thread_id = %s',
        (json.dumps(values), json.dumps({"configurable": config["configurable"]}), thread_id),
    )


def _copy(conn: psycopg.Connection[dict[str, Any]], table: str, columns: str, rows: Any) -> int:
    n = 0
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


@dataclass
class Template:
    """A real run's checkpoints, their writes and blobs, copied onto every filled thread
    (checkpoint ids are unique per thread only, so the copies keep them)."""

    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]

    def rows(self, table: str, thread_id: str) -> Iterator[tuple[Any, ...]]:
        columns, rows = self.tables[table]
        at = columns.index("thread_id")
        for row in rows:
            yield (*row[:at], thread_id, *row[at + 1 :])

    def columns(self, table: str) -> str:
        return ", ".join(f'"{c}"' for c in self.tables[table][0])


def _template(conn: psycopg.Connection[dict[str, Any]], thread_id: str) -> Template:
    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    cur = conn.execute(
        "SELECT checkpoint_id, checkpoint FROM checkpoints WHERE thread_id = %s"
        " ORDER BY checkpoint_id LIMIT %s",
        (thread_id, CHECKPOINTS_PER_THREAD),
    )
    picked = cur.fetchall()
    ids = [r["checkpoint_id"] for r in picked]
    versions = {(c, v) for r in picked for c, v in r["checkpoint"]["channel_versions"].items()}
    for table, where, params in (
        ("checkpoints", "checkpoint_id = ANY(%s)", [ids]),
        ("checkpoint_writes", "checkpoint_id = ANY(%s)", [ids]),
        ("checkpoint_blobs", "TRUE", []),
    ):
        cur = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        columns = [r["column_name"] for r in cur.fetchall()]
        with conn.cursor(row_factory=psycopg.rows.tuple_row) as raw:
            raw.execute(
                f"SELECT * FROM {table} WHERE thread_id = %s AND {where}", [thread_id, *params]
            )
            # jsonb comes back parsed: it goes back in as jsonb.
            rows = [
                tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in r)
                for r in raw.fetchall()
            ]
        if table == "checkpoint_blobs":
            at_c, at_v = columns.index("channel"), columns.index("version")
            rows = [r for r in rows if (r[at_c], r[at_v]) in versions]
        tables[table] = (columns, rows)
    return Template(tables)


@dataclass
class Filled:
    counts: dict[str, int]
    seconds: float  # the COPYs
    vacuum_seconds: float


def fill(dsn: str, runs: int, seeded: Seeded, *, chunk: int = 2_000, seed_rng: int = 25) -> Filled:
    """``runs`` runs on ``runs / 10`` threads, with their events, checkpoints, store items and
    crons; then ``VACUUM ANALYZE``."""
    rng = random.Random(seed_rng)
    n_threads = max(runs // scale_rows.RUNS_PER_THREAD, 1)
    users = max(n_threads // 10, 1)
    counts: dict[str, int] = {}
    began = time.monotonic()
    now = datetime.now(UTC)
    with _connect(dsn) as conn:
        template = _template(conn, seeded.history_thread)
        for first in range(0, n_threads, chunk):
            batch = _batch(rng, range(first, min(first + chunk, n_threads)), users, seeded, now)
            with conn.transaction():
                for table, columns, rows in batch.tables(template):
                    counts[table] = counts.get(table, 0) + _copy(conn, table, columns, rows)
        copied = time.monotonic() - began
        conn.execute(thread_counts.FOLD)  # as the workers' housekeeping would within a minute
        # As a database live for months is: vacuumed (the visibility map lets counts read
        # only an index) and analyzed (the planner knows the sizes). Also keeps autovacuum
        # from running under the measurements that follow.
        conn.execute(f"VACUUM ANALYZE {', '.join(FILLED_TABLES)}")
    return Filled(counts, copied, time.monotonic() - began - copied)


@dataclass
class _Batch:
    threads: list[tuple[str, dict[str, Any], datetime, str]]
    runs: list[tuple[Any, ...]]
    store: list[tuple[Any, ...]]
    crons: list[tuple[Any, ...]]

    def tables(self, template: Template) -> Iterator[tuple[str, str, Any]]:
        threads = [t[0] for t in self.threads]
        yield "threads", scale_rows.THREAD_COLUMNS, scale_rows.thread_rows(self.threads)
        yield "runs", scale_rows.RUN_COLUMNS, self.runs
        yield (
            "run_events",
            scale_rows.EVENT_COLUMNS,
            (e for r in self.runs for e in scale_rows.events(r)),
        )
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            rows = (row for t in threads for row in template.rows(table, t))
            yield table, template.columns(table), rows
        yield "store", scale_rows.STORE_COLUMNS, self.store
        yield "crons", scale_rows.CRON_COLUMNS, self.crons


#: The tables ``fill`` writes (in the connection's schema).
FILLED_TABLES = (
    *("threads", "runs", "run_events", "store", "crons"),
    *("checkpoints", "checkpoint_blobs", "checkpoint_writes"),
)


def _batch(rng: random.Random, indexes: range, users: int, seeded: Seeded, now: datetime) -> _Batch:
    batch = _Batch([], [], [], [])
    for i in indexes:
        thread_id = str(uuid.uuid4())
        meta = scale_rows.metadata(i, users, seeded.assistant_id)
        created = now - timedelta(days=180 * rng.random(), hours=1)
        last = ""
        for k in range(scale_rows.RUNS_PER_THREAD):
            last = rng.choice(scale_rows.RUN_STATUSES)
            # Only a thread's newest run can still be live or waiting at an interrupt.
            if k < scale_rows.RUNS_PER_THREAD - 1 and last in ("pending", "running"):
                last = "success"
            waiting = last == "interrupted" and k == scale_rows.RUNS_PER_THREAD - 1
            at = created + timedelta(minutes=k)
            batch.runs.append(scale_rows.run_row(thread_id, meta, at, last, waiting))
        batch.threads.append((thread_id, meta, created, scale_rows.THREAD_STATUS[last]))
        batch.store.append(scale_rows.store_row(meta["user_id"], f"memory-{i}", i, created))
        if i % 10 == 0:
            row = scale_rows.cron_row(
                seeded.assistant_id, thread_id, meta["user_id"], i % 7 != 0, created
            )
            batch.crons.append(row)
    return batch


def database_bytes(dsn: str) -> int:
    with _connect(dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database()) AS n").fetchone()
    return int(row["n"]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_data", description=__doc__)
    parser.add_argument("--dsn", required=True, help="the graphyard database (migrated)")
    parser.add_argument("--size", default="100k", help="runs: 100k, 1m, ...")
    args = parser.parse_args()
    seeded = seed(args.dsn)
    print(f"seeded: {seeded}")
    filled = fill(args.dsn, parse_size(args.size), seeded)
    print(f"filled in {filled.seconds:.1f} s (+{filled.vacuum_seconds:.1f} s VACUUM ANALYZE)")
    print(filled.counts)
    print(f"database size: {database_bytes(args.dsn) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
