"""Thread rows. Their status is written by the run lifecycle, never left ``busy`` by a dead run."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from graphyard.storage.jsonb import jsonb

Conn = AsyncConnection[DictRow]
Row = dict[str, Any]


async def create(conn: Conn, thread_id: str, metadata: dict[str, Any]) -> Row | None:
    """Insert a thread; ``None`` if the id is taken."""
    cur = await conn.execute(
        """
        INSERT INTO threads (thread_id, metadata) VALUES (%s, %s)
        ON CONFLICT (thread_id) DO NOTHING
        RETURNING *
        """,
        (thread_id, jsonb(metadata)),
    )
    return await cur.fetchone()


async def get(conn: Conn, thread_id: str, *, for_update: bool = False) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(f"SELECT * FROM threads WHERE thread_id = %s{lock}", (thread_id,))
    return await cur.fetchone()


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
        """
        UPDATE threads SET
            status = CASE WHEN EXISTS (
                SELECT 1 FROM runs WHERE thread_id = %(t)s AND status IN ('pending', 'running')
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


async def delete(conn: Conn, thread_id: str) -> bool:
    """Delete a thread and its runs; checkpoints are the saver's to delete."""
    async with conn.transaction():
        await conn.execute("DELETE FROM runs WHERE thread_id = %s", (thread_id,))
        cur = await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))
        return cur.rowcount > 0


async def delete_row(conn: Conn, thread_id: str) -> None:
    """Delete only the thread row: a temporary thread's runs keep their results for wait/join."""
    await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))


async def release_busy(conn: Conn, thread_id: str) -> None:
    """Undo ``mark_busy`` when a run could not be started and no other run is live."""
    await conn.execute(
        """
        UPDATE threads SET status = 'idle', updated_at = now()
        WHERE thread_id = %s AND status = 'busy' AND NOT EXISTS (
            SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id
              AND status IN ('pending', 'running'))
        """,
        (thread_id,),
    )
