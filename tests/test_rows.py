"""The typed rows of graphyard/storage/rows.py against the tables the migrations make: one field
per column, ``| None`` exactly where the column is nullable, and the queries that add a column
(``mark_running``) or read a subset (the event log) return the keys their rows declare."""

from __future__ import annotations

import types
import uuid
from collections.abc import AsyncIterator
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from psycopg import AsyncConnection

from graphyard.config import Settings
from graphyard.storage import assistants as assistant_rows
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.db import connection_kwargs
from graphyard.storage.migrate import migrate
from graphyard.storage.rows import (
    AssistantRow,
    AssistantVersionRow,
    Conn,
    CronRow,
    RunEventRow,
    RunRow,
    StartedRunRow,
    ThreadEventRow,
    ThreadRow,
)

pytestmark = pytest.mark.core

TABLES: dict[str, Any] = {
    "runs": RunRow,
    "threads": ThreadRow,
    "assistants": AssistantRow,
    "assistant_versions": AssistantVersionRow,
    "crons": CronRow,
}


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[Conn]:
    await migrate(settings)
    async with await AsyncConnection.connect(
        settings.database_uri, **connection_kwargs(settings)
    ) as conn:
        yield conn


def _admits_none(annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = get_origin(annotation)
    return origin in (Union, types.UnionType) and type(None) in get_args(annotation)


@pytest.mark.parametrize("table", list(TABLES))
async def test_row_fields_are_the_tables_columns(
    conn: Conn, settings: Settings, table: str
) -> None:
    cur = await conn.execute(
        "SELECT column_name, is_nullable FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (settings.database_schema, table),
    )
    columns = {r["column_name"]: r["is_nullable"] == "YES" for r in await cur.fetchall()}
    hints = get_type_hints(TABLES[table])
    assert set(hints) == set(columns)
    nullable = {name for name, hint in hints.items() if _admits_none(hint)}
    # ``Any`` (a nullable jsonb of any shape) admits None; a NOT NULL column's field must not.
    assert {name for name, yes in columns.items() if yes} <= nullable
    assert not {name for name in nullable if not columns[name] and hints[name] is not Any}


async def test_queries_return_the_keys_of_their_rows(conn: Conn) -> None:
    thread_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    thread = await thread_rows.create(conn, thread_id, {"graph_id": "g"})
    assert thread is not None
    assert set(thread) == set(get_type_hints(ThreadRow))
    found, total = await thread_rows.search(
        conn,
        ids=[thread_id],
        metadata=None,
        values=None,
        status=None,
        limit=10,
        offset=0,
        sort_by="created_at",
        sort_order="desc",
    )
    assert total == 1
    assert set(found[0]) == set(get_type_hints(ThreadRow))

    assistant = await assistant_rows.create(
        conn,
        assistant_id=str(uuid.uuid4()),
        graph_id="g",
        config={},
        context={},
        metadata={},
        name="a",
        description=None,
    )
    assert assistant is not None
    assert set(assistant) == set(get_type_hints(AssistantRow))
    versions = await assistant_rows.versions(
        conn, str(assistant["assistant_id"]), metadata=None, limit=10, offset=0
    )
    assert [set(v) for v in versions] == [set(get_type_hints(AssistantVersionRow))]

    row, created = await run_rows.insert(
        conn,
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=str(assistant["assistant_id"]),
        metadata={},
        kwargs={},
        multitask_strategy=None,
    )
    assert created
    assert set(row) == set(get_type_hints(RunRow))
    started = await run_rows.mark_running(conn, run_id)
    assert started is not None
    assert set(started) == set(get_type_hints(StartedRunRow))
    assert started["status"] == "running"
    assert started["queue_wait"] is not None
    again = await run_rows.mark_running(conn, run_id)
    assert again is not None
    assert set(again) == set(get_type_hints(StartedRunRow))
    assert again["queue_wait"] is None

    await event_log.append(
        conn,
        "graphyard_rows_test",
        run_id=run_id,
        thread_id=thread_id,
        events=[event_log.event("metadata", {"run_id": run_id})],
    )
    (of_run,) = await event_log.for_run(conn, run_id, 0, 10)
    assert set(of_run) == set(get_type_hints(RunEventRow))
    (of_thread,) = await event_log.for_thread(conn, thread_id, 0, 10)
    assert set(of_thread) == set(get_type_hints(ThreadEventRow))
