"""Cron rows: what each cron runs; its timing lives in its Temporal Schedule too."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from graphyard.storage import paging
from graphyard.storage.filters import Scope, where
from graphyard.storage.jsonb import jsonb
from graphyard.storage.rows import Conn, CronRow, NewCron

SORTABLE = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
)


def _nulls(sort_by: str, order: str) -> str:
    """Where crons without the value sort, as the reference sorts them: a missing date as the
    earliest one, a missing thread id as the text "none" (after every id)."""
    if sort_by in ("end_time", "next_run_date"):
        return "NULLS FIRST" if order == "ASC" else "NULLS LAST"
    return "NULLS LAST" if order == "ASC" else "NULLS FIRST"


async def insert(conn: Conn, row: NewCron) -> CronRow:
    cur = await conn.execute(
        """
        INSERT INTO crons (cron_id, assistant_id, thread_id, schedule, timezone, end_time,
            payload, metadata, on_run_completed, enabled)
        VALUES (%(cron_id)s, %(assistant_id)s, %(thread_id)s, %(schedule)s, %(timezone)s,
            %(end_time)s, %(payload)s, %(metadata)s, %(on_run_completed)s, %(enabled)s)
        RETURNING *
        """,
        {**row, "payload": jsonb(row["payload"]), "metadata": jsonb(row["metadata"])},
    )
    created = cast(CronRow | None, await cur.fetchone())
    assert created is not None
    return created


async def get(
    conn: Conn, cron_id: str, *, for_update: bool = False, scope: Scope = None
) -> CronRow | None:
    """The cron, if ``scope`` (an auth filter) lets the caller see it."""
    lock = " FOR UPDATE" if for_update else ""
    clause, params = where(scope)
    cur = await conn.execute(
        f"SELECT * FROM crons WHERE cron_id = %s AND {clause}{lock}", [cron_id, *params]
    )
    return cast(CronRow | None, await cur.fetchone())


async def update(
    conn: Conn, cron_id: str, changes: dict[str, Any], *, scope: Scope = None
) -> CronRow | None:
    """Set the given columns (``payload`` and ``metadata`` replace: the caller merged them)."""
    values = [jsonb(v) if k in ("payload", "metadata") else v for k, v in changes.items()]
    sets = ", ".join(f"{column} = %s" for column in changes)
    clause, params = where(scope)
    cur = await conn.execute(
        f"UPDATE crons SET {sets}, updated_at = now() WHERE cron_id = %s AND {clause} RETURNING *",
        [*values, cron_id, *params],
    )
    return cast(CronRow | None, await cur.fetchone())


async def set_next_run(conn: Conn, cron_id: str, when: datetime | None) -> None:
    await conn.execute("UPDATE crons SET next_run_date = %s WHERE cron_id = %s", (when, cron_id))


async def delete(conn: Conn, cron_id: str, *, scope: Scope = None) -> bool:
    clause, params = where(scope)
    cur = await conn.execute(
        f"DELETE FROM crons WHERE cron_id = %s AND {clause} RETURNING 1", [cron_id, *params]
    )
    return cast(CronRow | None, await cur.fetchone()) is not None


async def for_thread(conn: Conn, thread_id: str) -> list[str]:
    cur = await conn.execute("SELECT cron_id FROM crons WHERE thread_id = %s", (thread_id,))
    return [str(r["cron_id"]) for r in await cur.fetchall()]


def _matching(
    assistant_id: str | None,
    thread_id: str | None,
    enabled: bool | None,
    metadata: dict[str, Any] | None,
    scope: Scope,
) -> tuple[str, list[Any]]:
    clause, params = where(scope)
    conditions = [clause]
    for column, value in (("assistant_id", assistant_id), ("thread_id", thread_id)):
        if value is not None:
            conditions.append(f"{column} = %s::uuid")
            params.append(value)
    if enabled is not None:
        conditions.append("enabled = %s")
        params.append(enabled)
    if metadata:
        conditions.append("metadata @> %s")
        params.append(jsonb(metadata))
    return " AND ".join(conditions), params


async def search(
    conn: Conn,
    *,
    assistant_id: str | None,
    thread_id: str | None,
    enabled: bool | None,
    metadata: dict[str, Any] | None,
    limit: int,
    offset: int,
    sort_by: str,
    sort_order: str,
    scope: Scope = None,
) -> tuple[list[CronRow], int]:
    """A page of crons (those ``scope`` shows) and its total (``paging.page``)."""
    condition, params = _matching(assistant_id, thread_id, enabled, metadata, scope)
    assert sort_by in SORTABLE
    order = "ASC" if sort_order.lower() == "asc" else "DESC"
    found, total = await paging.page(
        conn,
        "crons",
        condition,
        params,
        order_by=f"{sort_by} {order} {_nulls(sort_by, order)}, cron_id",
        limit=limit,
        offset=offset,
    )
    return cast(list[CronRow], found), total


async def count(
    conn: Conn,
    *,
    assistant_id: str | None,
    thread_id: str | None,
    metadata: dict[str, Any] | None,
    scope: Scope = None,
) -> int:
    """How many crons (of those ``scope`` shows) match."""
    condition, params = _matching(assistant_id, thread_id, None, metadata, scope)
    return await paging.count(conn, "crons", condition, params)
