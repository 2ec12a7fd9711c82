"""Thread time-to-live: set, shown, and swept by the workers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage.rows import Conn, ThreadRow


async def set_ttl(conn: Conn, thread_id: str, strategy: str | None, minutes: float | None) -> None:
    """Give the thread a TTL (``None`` minutes removes it); its clock starts now."""
    await conn.execute(
        """
        UPDATE threads SET ttl_strategy = %s, ttl_minutes = %s, ttl_swept_at = NULL,
            updated_at = now()
        WHERE thread_id = %s
        """,
        (strategy if minutes is not None else None, minutes, thread_id),
    )


def ttl_json(row: ThreadRow) -> dict[str, Any] | None:
    """``ttl`` as ``threads.get(include=["ttl"])`` shows it."""
    minutes = row.get("ttl_minutes")
    if minutes is None:
        return None
    return {
        "strategy": row["ttl_strategy"],
        "ttl_minutes": minutes,
        "expires_at": row["updated_at"] + timedelta(minutes=minutes),
    }


async def sweep(conn: Conn, limit: int) -> tuple[list[str], list[str]]:
    """Expire idle threads past their TTL: ``delete`` ones go with their runs, events and
    checkpoints (in this transaction); ``keep_latest`` ones are returned to be pruned.
    A busy thread waits for its runs; a run created meanwhile waits for the row lock."""
    async with conn.transaction():
        cur = await conn.execute(
            """
            SELECT thread_id, ttl_strategy FROM threads
            WHERE ttl_minutes IS NOT NULL AND status <> 'busy'
              AND updated_at + ttl_minutes * interval '1 minute' < now()
              AND (ttl_swept_at IS NULL OR ttl_swept_at < updated_at)
            ORDER BY updated_at LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            (limit,),
        )
        expired = await cur.fetchall()
        deleted = [str(r["thread_id"]) for r in expired if r["ttl_strategy"] == "delete"]
        pruned = [str(r["thread_id"]) for r in expired if r["ttl_strategy"] != "delete"]
        if deleted:
            await checkpoint_rows.delete_threads(conn, deleted)
            for table in ("run_events", "runs", "threads"):
                await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE thread_id = ANY(%s::uuid[])").format(
                        sql.Identifier(table)
                    ),
                    (deleted,),
                )
        if pruned:
            await conn.execute(
                "UPDATE threads SET ttl_swept_at = now() WHERE thread_id = ANY(%s::uuid[])",
                (pruned,),
            )
    return deleted, pruned
