"""Thread rows. Their status is written by the run lifecycle, never left ``busy`` by a dead run."""

from __future__ import annotations

from typing import Any, cast

from graphyard.storage import paging, thread_counts
from graphyard.storage.filters import Scope, where
from graphyard.storage.jsonb import jsonb
from graphyard.storage.rows import Conn, ThreadRow
from graphyard.storage.statuses import ACTIVE_SQL, LIVE_SQL

TTL = tuple[str, float]


async def create(
    conn: Conn, thread_id: str, metadata: dict[str, Any], ttl: TTL | None = None
) -> ThreadRow | None:
    """Insert a thread (with a TTL: strategy and minutes); ``None`` if the id is taken."""
    strategy, minutes = ttl or (None, None)
    cur = await conn.execute(
        """
        INSERT INTO threads (thread_id, metadata, ttl_strategy, ttl_minutes)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (thread_id) DO NOTHING
        RETURNING *
        """,
        (thread_id, jsonb(metadata), strategy, minutes),
    )
    return cast(ThreadRow | None, await cur.fetchone())


async def get(
    conn: Conn, thread_id: str, *, for_update: bool = False, scope: Scope = None
) -> ThreadRow | None:
    """The thread, if it exists and ``scope`` (an auth filter) lets the caller see it."""
    lock = " FOR UPDATE" if for_update else ""
    clause, params = where(scope)
    cur = await conn.execute(
        f"SELECT * FROM threads WHERE thread_id = %s AND {clause}{lock}", [thread_id, *params]
    )
    return cast(ThreadRow | None, await cur.fetchone())


async def mark_busy(conn: Conn, thread_id: str, metadata: dict[str, Any]) -> None:
    """A run was queued: the thread is busy and remembers which graph and assistant ran on it."""
    await conn.execute(
        """
        UPDATE threads SET status = 'busy', updated_at = now(), metadata = metadata || %s
        WHERE thread_id = %s
        """,
        (jsonb(metadata), thread_id),
    )


async def record_run_end(
    conn: Conn,
    thread_id: str,
    *,
    status: str,
    values: Any,
    interrupts: dict[str, Any],
    error: Any,
    config: dict[str, Any],
) -> None:
    """Refresh the thread from the run's final checkpoint. Stays ``busy`` while other runs of
    the thread are still pending or running."""
    await conn.execute(
        f"""
        UPDATE threads SET
            status = CASE WHEN EXISTS (
                SELECT 1 FROM runs WHERE thread_id = %(t)s AND {ACTIVE_SQL}
            ) THEN 'busy' ELSE %(status)s END,
            "values" = %(values)s, interrupts = %(interrupts)s, error = %(error)s,
            config = %(config)s, updated_at = now(), state_updated_at = now()
        WHERE thread_id = %(t)s
        """,
        {
            "t": thread_id,
            "status": status,
            "values": jsonb(values),
            "interrupts": jsonb(interrupts),
            "error": jsonb(error),
            "config": jsonb(config),
        },
    )


async def delete(conn: Conn, thread_id: str, *, scope: Scope = None) -> bool:
    """Delete a thread, its runs and their events; checkpoints are the saver's to delete.
    ``False`` if there is no such thread (in ``scope``)."""
    async with conn.transaction():
        if scope is not None and await get(conn, thread_id, for_update=True, scope=scope) is None:
            return False
        await conn.execute("DELETE FROM run_events WHERE thread_id = %s", (thread_id,))
        await conn.execute("DELETE FROM runs WHERE thread_id = %s", (thread_id,))
        cur = await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))
        return cur.rowcount > 0


async def delete_row(conn: Conn, thread_id: str) -> None:
    """Delete only the thread row: a temporary thread's runs keep their results for wait/join."""
    await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))


async def release_busy(conn: Conn, thread_id: str) -> None:
    """Undo ``mark_busy`` when a run could not be started and no other run is live."""
    await conn.execute(
        f"""
        UPDATE threads SET status = 'idle', updated_at = now()
        WHERE thread_id = %s AND status = 'busy' AND NOT EXISTS (
            SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id
              AND {ACTIVE_SQL})
        """,
        (thread_id,),
    )


SORTABLE = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")


def _matching(
    *,
    ids: list[str] | None,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    scope: Scope,
) -> tuple[str, list[Any]]:
    clause, params = where(scope)
    conditions = [clause]
    if ids:
        conditions.append("thread_id = ANY(%s::uuid[])")
        params.append(ids)
    if metadata:
        conditions.append("metadata @> %s")
        params.append(jsonb(metadata))
    if values:
        conditions.append('"values" @> %s')
        params.append(jsonb(values))
    if status:
        conditions.append("status = %s")
        params.append(status)
    return " AND ".join(conditions), params


async def search(
    conn: Conn,
    *,
    ids: list[str] | None,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    limit: int,
    offset: int,
    sort_by: str,
    sort_order: str,
    scope: Scope = None,
) -> tuple[list[ThreadRow], int]:
    """A page of threads (those ``scope`` shows) and its total (``paging.page``)."""
    condition, params = _matching(
        ids=ids, metadata=metadata, values=values, status=status, scope=scope
    )
    assert sort_by in SORTABLE
    order = "ASC" if sort_order.lower() == "asc" else "DESC"
    found, total = await paging.page(
        conn,
        "threads",
        condition,
        params,
        order_by=f"{sort_by} {order}",
        limit=limit,
        offset=offset,
    )
    return cast(list[ThreadRow], found), total


async def count(
    conn: Conn,
    *,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    scope: Scope = None,
) -> int:
    """How many threads (of those ``scope`` shows) match."""
    if scope is None and not metadata and not values:
        return await thread_counts.total(conn, status)
    condition, params = _matching(
        ids=None, metadata=metadata, values=values, status=status, scope=scope
    )
    return await paging.count(conn, "threads", condition, params)


async def merge_metadata(
    conn: Conn, thread_id: str, metadata: dict[str, Any], *, scope: Scope = None
) -> ThreadRow | None:
    clause, params = where(scope)
    cur = await conn.execute(
        f"""
        UPDATE threads SET metadata = metadata || %s, updated_at = now()
        WHERE thread_id = %s AND {clause} RETURNING *
        """,
        [jsonb(metadata), thread_id, *params],
    )
    return cast(ThreadRow | None, await cur.fetchone())


async def refresh_state(
    conn: Conn, thread_id: str, *, status: str, values: Any, interrupts: dict[str, Any]
) -> ThreadRow | None:
    """After a state update: status, values and interrupts from the new checkpoint."""
    cur = await conn.execute(
        """
        UPDATE threads SET status = %s, "values" = %s, interrupts = %s,
            updated_at = now(), state_updated_at = now()
        WHERE thread_id = %s RETURNING *
        """,
        (status, jsonb(values), jsonb(interrupts), thread_id),
    )
    return cast(ThreadRow | None, await cur.fetchone())


async def live_run_ids(conn: Conn, thread_id: str, *, waiting: bool = False) -> list[str]:
    """The thread's pending or running runs (and, with ``waiting``, those waiting at an
    interrupt)."""
    cur = await conn.execute(
        "SELECT run_id FROM runs WHERE thread_id = %s"
        f" AND ({ACTIVE_SQL} OR (waiting AND %s))"
        " ORDER BY created_at, run_id",
        (thread_id, waiting),
    )
    return [str(r["run_id"]) for r in await cur.fetchall()]


async def runs_in_flight(conn: Conn, thread_id: str) -> tuple[list[str], list[str]]:
    """The thread's pending or running runs, and its runs waiting at an interrupt."""
    cur = await conn.execute(
        "SELECT run_id, waiting FROM runs WHERE thread_id = %s"
        f" AND {LIVE_SQL} ORDER BY created_at, run_id",
        (thread_id,),
    )
    rows = await cur.fetchall()
    live = [str(r["run_id"]) for r in rows if not r["waiting"]]
    return live, [str(r["run_id"]) for r in rows if r["waiting"]]


async def runs_in_flight_before(conn: Conn, thread_id: str, run_id: str) -> list[str]:
    """The thread's live runs (waiting ones included) created before ``run_id``."""
    cur = await conn.execute(
        f"""
        SELECT run_id FROM runs WHERE thread_id = %(t)s AND {LIVE_SQL}
          AND (created_at, run_id) < (SELECT created_at, run_id FROM runs WHERE run_id = %(r)s)
        ORDER BY created_at, run_id
        """,
        {"t": thread_id, "r": run_id},
    )
    return [str(r["run_id"]) for r in await cur.fetchall()]


async def copy(conn: Conn, source_id: str, new_id: str, *, scope: Scope = None) -> ThreadRow | None:
    """A new idle thread with the source's metadata, config and latest values; ``None`` if
    there is no such source (in ``scope``)."""
    clause, params = where(scope)
    cur = await conn.execute(
        f"""
        INSERT INTO threads (thread_id, metadata, config, "values", interrupts, status)
        SELECT %s, metadata, config, "values", interrupts,
            CASE WHEN status = 'interrupted' THEN 'interrupted' ELSE 'idle' END
        FROM threads WHERE thread_id = %s AND {clause}
        RETURNING *
        """,
        [new_id, source_id, *params],
    )
    return cast(ThreadRow | None, await cur.fetchone())
