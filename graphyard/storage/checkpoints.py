"""SQL over langgraph-checkpoint-postgres's tables, for what its saver does not offer: copying
a thread, whether it has a checkpoint, deleting what one run wrote, deleting a thread in the
caller's transaction, and measuring a thread's storage."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from graphyard.storage.rows import Conn

CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


async def copy_checkpoints(conn: Conn, source_id: str, new_id: str) -> None:
    """Copy a thread's LangGraph checkpoints to another thread id. The Postgres saver has no
    ``acopy_thread``; its tables are copied row for row, whatever columns its version has."""
    async with conn.transaction():
        for table in CHECKPOINT_TABLES:
            cur = await conn.execute(
                """
                SELECT column_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = %s
                ORDER BY ordinal_position
                """,
                (table,),
            )
            columns = [r["column_name"] for r in await cur.fetchall()]
            targets = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            sources = sql.SQL(", ").join(
                sql.Placeholder() if c == "thread_id" else sql.Identifier(c) for c in columns
            )
            await conn.execute(
                sql.SQL("INSERT INTO {t} ({c}) SELECT {s} FROM {t} WHERE thread_id = %s").format(
                    t=sql.Identifier(table), c=targets, s=sources
                ),
                (new_id, source_id),
            )


async def exists(conn: Conn, thread_id: str, checkpoint_id: str, checkpoint_ns: str = "") -> bool:
    """Whether the thread has this checkpoint."""
    cur = await conn.execute(
        """
        SELECT 1 FROM checkpoints
        WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = %s
        """,
        (thread_id, checkpoint_ns, checkpoint_id),
    )
    return await cur.fetchone() is not None


async def delete_run_checkpoints(conn: Conn, thread_id: str, run_id: str) -> None:
    """Delete the checkpoints (and their pending writes) a run wrote. The Postgres saver has no
    ``adelete_for_runs``; LangGraph records the run id in each checkpoint's metadata. Blobs
    are shared between checkpoints by channel version and stay."""
    async with conn.transaction():
        await conn.execute(
            """
            DELETE FROM checkpoint_writes w USING checkpoints c
            WHERE c.thread_id = %(t)s AND c.metadata->>'run_id' = %(r)s
              AND w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
              AND w.checkpoint_id = c.checkpoint_id
            """,
            {"t": thread_id, "r": run_id},
        )
        await conn.execute(
            "DELETE FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s",
            (thread_id, run_id),
        )


async def delete_threads(conn: Conn, thread_ids: list[str]) -> None:
    """Delete every checkpoint of these threads (their ``thread_id`` is text in the saver)."""
    for table in CHECKPOINT_TABLES:
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE thread_id = ANY(%s)").format(sql.Identifier(table)),
            (thread_ids,),
        )


async def storage(conn: Conn, thread_id: str) -> dict[str, Any]:
    """Bytes a thread's checkpoints occupy: checkpoint rows, channel values by channel, and
    pending writes (the reference's ``ThreadStorage`` shape)."""
    cur = await conn.execute(
        """
        SELECT count(*) AS n,
            coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0) AS bytes
        FROM checkpoints WHERE thread_id = %s
        """,
        (thread_id,),
    )
    checkpoints = await cur.fetchone()
    cur = await conn.execute(
        """
        SELECT channel, count(*) AS n, coalesce(sum(length(blob)), 0) AS bytes
        FROM checkpoint_blobs WHERE thread_id = %s GROUP BY channel ORDER BY channel
        """,
        (thread_id,),
    )
    by_channel = {
        r["channel"]: {"versions": int(r["n"]), "bytes": int(r["bytes"])}
        for r in await cur.fetchall()
    }
    cur = await conn.execute(
        """
        SELECT count(*) AS n, coalesce(sum(length(blob)), 0) AS bytes
        FROM checkpoint_writes WHERE thread_id = %s
        """,
        (thread_id,),
    )
    writes = await cur.fetchone()
    assert checkpoints is not None
    assert writes is not None
    channel_bytes = sum(c["bytes"] for c in by_channel.values())
    return {
        "thread_id": thread_id,
        "total_bytes": int(checkpoints["bytes"]) + channel_bytes + int(writes["bytes"]),
        "checkpoints": {"count": int(checkpoints["n"]), "bytes": int(checkpoints["bytes"])},
        "channel_values": {
            "count": sum(c["versions"] for c in by_channel.values()),
            "bytes": channel_bytes,
            "by_channel": by_channel,
        },
        "pending_writes": {"count": int(writes["n"]), "bytes": int(writes["bytes"])},
    }
