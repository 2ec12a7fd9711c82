"""The hot reads keep their indexes as the data grows (issue 25).

A schema is filled the way ``make bench-scale`` fills one (benchmarks/scale_data.py: threads
with ten runs each, every status, stream events, real checkpoints, store items, crons), vacuumed
and analyzed, so the planner chooses on real sizes and statistics (no ``enable_seqscan`` games).
Each hot query is then issued by the storage function that serves it, on a connection that
EXPLAINs each statement instead of running it: the plan asserted is the one of the SQL graphyard
sends, with its real parameters. A change that loses an index fails here, not in production.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import SearchOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow, dict_row

from benchmarks import scale_data
from benchmarks.scale_data import SEARCH_USER, Seeded
from graphyard.config import Settings
from graphyard.storage import dead_runs, events, runs, threads
from graphyard.storage.migrate import migrate
from tests.stack import TEST_CONFIG

# 2,000 threads, 20,000 runs, 200,000 stream events: enough that a scan costs the planner
# more than an index, so it picks the index on its own.
RUNS = 20_000
FILLED = ("threads", "runs", "run_events", "checkpoints", "checkpoint_blobs", "checkpoint_writes")
FILLED += ("store",)


@dataclass
class Filled:
    conn: psycopg.AsyncConnection[DictRow]
    seeded: Seeded


@pytest.fixture(scope="module")
async def filled(postgres_uri: str) -> AsyncIterator[Filled]:
    schema = f"plans_{uuid.uuid4().hex[:10]}"
    settings = Settings(config_path=TEST_CONFIG, database_uri=postgres_uri, database_schema=schema)
    await migrate(settings)
    dsn = make_conninfo(postgres_uri, options=f"-c search_path={schema}")
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)
    try:
        # What the API registers at start-up for the graph the fill's rows ran.
        await conn.execute(
            "INSERT INTO assistants (assistant_id, graph_id, name) VALUES (%s, 'chain', 'chain')",
            (str(uuid.uuid4()),),
        )
        seeded = await asyncio.to_thread(scale_data.seed, dsn)
        await asyncio.to_thread(scale_data.fill, dsn, RUNS, seeded)
        yield Filled(conn, seeded)
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


class _NoRows:
    rowcount = 0

    async def fetchall(self) -> list[Any]:
        return []

    async def fetchone(self) -> None:
        return None


class Explaining:
    """Stands in for the connection a storage function is given: EXPLAINs each statement it
    sends (with its parameters) on the real one, keeps the plans, and answers no rows."""

    def __init__(self, conn: psycopg.AsyncConnection[DictRow]) -> None:
        self.conn = conn
        self.plans: list[tuple[str, dict[str, Any]]] = []

    async def execute(self, query: str, params: Any = None) -> _NoRows:
        cur = await self.conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params)
        row = await cur.fetchone()
        assert row is not None
        self.plans.append((query, row["QUERY PLAN"][0]["Plan"]))
        return _NoRows()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


Query = Callable[[Any, Seeded], Awaitable[object]]


async def _saver_sql(conn: Any, config: RunnableConfig, limit: int | None) -> None:
    """The statements langgraph's saver sends for ``aget_tuple`` (latest checkpoint) and for
    ``alist`` (history), built by the saver itself."""
    saver = AsyncPostgresSaver(conn.conn)
    if limit is None:
        where = "WHERE thread_id = %s AND checkpoint_ns = %s ORDER BY checkpoint_id DESC LIMIT 1"
        await conn.execute(saver.SELECT_SQL + where, (config["configurable"]["thread_id"], ""))
        return
    where, args = saver._search_where(config, None, None)
    sql = saver.SELECT_SQL + where + " ORDER BY checkpoint_id DESC LIMIT %s"
    await conn.execute(sql, [*args, limit])


async def _store_search(conn: Any, seeded: Seeded) -> None:
    store = AsyncPostgresStore(conn.conn)
    queries, _ = store._prepare_batch_search_queries(
        [(0, SearchOp(("users", SEARCH_USER), None, 10, 0))]
    )
    for sql, params in queries:
        await conn.execute(sql, params)


def _newest_threads(
    conn: Any, *, metadata: dict[str, Any] | None = None, status: str | None = None
) -> Awaitable[Any]:
    """``threads.search``'s first page, newest first, as the API asks for it."""
    return threads.search(
        conn,
        ids=None,
        metadata=metadata,
        values=None,
        status=status,
        limit=10,
        offset=0,
        sort_by="created_at",
        sort_order="desc",
    )


def _history(seeded: Seeded) -> RunnableConfig:
    return {"configurable": {"thread_id": seeded.history_thread, "checkpoint_ns": ""}}


#: (what, the storage call, the index its plan must use)
HOT: list[tuple[str, Query, str | None]] = [
    (
        "threads.search by metadata",
        lambda c, s: _newest_threads(c, metadata={"user_id": SEARCH_USER}),
        "threads_metadata_idx",
    ),
    (
        "threads.search by status",
        lambda c, s: _newest_threads(c, status="interrupted"),
        "threads_status_created_idx",
    ),
    (
        "threads.search, newest first",
        lambda c, s: _newest_threads(c),
        "threads_created_idx",
    ),
    (
        "threads.count by metadata",
        lambda c, s: threads.count(c, metadata={"user_id": SEARCH_USER}, values=None, status=None),
        "threads_metadata_idx",
    ),
    # Counts with no filter but a status read the counters (thread_counts), no thread.
    (
        "threads.count by status",
        lambda c, s: threads.count(c, metadata=None, values=None, status="busy"),
        None,
    ),
    (
        "threads.count, all",
        lambda c, s: threads.count(c, metadata=None, values=None, status=None),
        None,
    ),
    (
        "runs.list on a thread with 1,000 runs",
        lambda c, s: runs.list_for_thread(c, s.hot_thread, limit=10, offset=0, status=None),
        "runs_thread_created_idx",
    ),
    (
        "a thread's runs in flight (every run's start)",
        lambda c, s: threads.runs_in_flight(c, s.hot_thread),
        "runs_status_idx",
    ),
    ("runs.get", lambda c, s: runs.get(c, s.finished_run), "runs_pkey"),
    (
        "join replay: a run's stream",
        lambda c, s: events.for_run(c, s.finished_run, 0, 100),
        "run_events_run_idx",
    ),
    (
        "GET /runs/dead",
        lambda c, s: dead_runs.listed(c, graph_id=None, limit=10, offset=0),
        "runs_dead_idx",
    ),
    # The fill spans months; a database kept within its retention has few rows past it.
    (
        "housekeeping: stream events past retention",
        lambda c, s: events.prune(c, timedelta(days=3650)),
        "run_events_created_idx",
    ),
    (
        "housekeeping: ended stateless runs past retention",
        lambda c, s: runs.prune_stateless(c, timedelta(days=3650)),
        "runs_temporary_ended_idx",
    ),
    (
        "get_state: the latest checkpoint",
        lambda c, s: _saver_sql(c, _history(s), None),
        "checkpoints_pkey",
    ),
    (
        "get_history(limit=10)",
        lambda c, s: _saver_sql(c, _history(s), 10),
        "checkpoints_pkey",
    ),
    ("store.search", _store_search, "store_prefix_idx"),
]


@pytest.mark.parametrize(
    ("query", "index"), [(q, i) for _, q, i in HOT], ids=[w for w, _, _ in HOT]
)
async def test_hot_query_uses_its_index(filled: Filled, query: Query, index: str | None) -> None:
    explaining = Explaining(filled.conn)
    await query(explaining, filled.seeded)
    assert explaining.plans, "the storage call sent no statement"
    for sql, plan in explaining.plans:
        nodes = list(_nodes(plan))
        scanned = {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}
        assert not scanned & set(FILLED), f"scans {scanned} whole:\n{sql}\n{plan}"
    if index is None:
        read = {n.get("Relation Name") for _, plan in explaining.plans for n in _nodes(plan)}
        assert not read & set(FILLED), f"reads {read & set(FILLED)}"
        return
    used = {n.get("Index Name") for _, plan in explaining.plans for n in _nodes(plan)}
    assert index in used, f"expected {index}, used {used - {None}}"
