"""The dead letters: runs that ended ``error`` (attempts exhausted, or an error no retry can
fix), listed for operators and re-driven from their last checkpoint."""

from __future__ import annotations

from typing import cast

from graphyard.errors import Conflict, NotFound
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.filters import Scope, run_where
from graphyard.storage.jsonb import jsonb
from graphyard.storage.rows import Conn, RunRow
from graphyard.storage.statuses import LIVE_SQL


async def listed(
    conn: Conn, *, graph_id: str | None, limit: int, offset: int, scope: Scope = None
) -> list[RunRow]:
    """Runs that ended ``error`` (those ``scope`` shows), most recent first."""
    clause, params = run_where(scope)
    cur = await conn.execute(
        f"""
        SELECT * FROM runs WHERE status = 'error'
          AND (%s::text IS NULL OR kwargs->'config'->'configurable'->>'graph_id' = %s)
          AND {clause}
        ORDER BY updated_at DESC, run_id DESC LIMIT %s OFFSET %s
        """,
        [graph_id, graph_id, *params, limit, offset],
    )
    return cast(list[RunRow], await cur.fetchall())


def ensure_dead(row: RunRow | None, run_id: str) -> RunRow:
    """The run, if it ended ``error``."""
    if row is None:
        raise NotFound("Run not found")
    if row["status"] != "error":
        raise Conflict(
            f"Run {run_id} is {row['status']}: only runs that ended in error can be retried."
        )
    return row


async def reopen(conn: Conn, channel: str, run_id: str) -> tuple[RunRow, RunRow]:
    """Move a dead run back to ``pending`` under its thread's lock, so its workflow can run
    again from the thread's last checkpoint; returns the run as it was and as it is now.

    Only the thread's newest run, on a thread with nothing in flight, goes again: a later run
    has moved the thread on, and re-driving an older one would fork it behind its back."""
    before = ensure_dead(await run_rows.get(conn, run_id), run_id)
    thread = await thread_rows.get(conn, str(before["thread_id"]), for_update=True)
    if thread is None:
        raise Conflict(
            "The run's thread is gone (a stateless run's thread is deleted when it ends): "
            "create a new run instead."
        )
    cur = await conn.execute("SELECT * FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))
    ensure_dead(cast(RunRow | None, await cur.fetchone()), run_id)
    cur = await conn.execute(
        f"""
        SELECT run_id, status FROM runs WHERE thread_id = %s AND run_id <> %s
          AND (created_at > %s OR {LIVE_SQL})
        LIMIT 1
        """,
        (before["thread_id"], run_id, before["created_at"]),
    )
    if (other := await cur.fetchone()) is not None:
        raise Conflict(
            f"Run {other['run_id']} ({other['status']}) came after this one on its thread: "
            "retry only the thread's newest run, or create a new run."
        )
    cur = await conn.execute(
        """
        UPDATE runs SET status = 'pending', output = NULL, error = NULL, updated_at = now()
        WHERE run_id = %s RETURNING *
        """,
        (run_id,),
    )
    after = cast(RunRow | None, await cur.fetchone())
    assert after is not None
    await thread_rows.mark_busy(conn, str(before["thread_id"]), {})
    # Followers and joiners go on past the first end: its marker goes, a new start is noted.
    await conn.execute(
        "DELETE FROM run_events WHERE run_id = %s AND event = %s", (run_id, event_log.RUN_DONE)
    )
    await event_log.append(
        conn,
        channel,
        run_id=run_id,
        thread_id=str(before["thread_id"]),
        events=[event_log.event("metadata", {"run_id": run_id, "attempt": 1})],
    )
    return before, after


async def restore(conn: Conn, channel: str, before: RunRow) -> None:
    """Undo ``reopen`` when the run's workflow could not be started again."""
    await conn.execute(
        """
        UPDATE runs SET status = 'error', output = %s, error = %s, updated_at = now()
        WHERE run_id = %s AND status = 'pending'
        """,
        (jsonb(before["output"]), jsonb(before["error"]), before["run_id"]),
    )
    await conn.execute(
        "UPDATE threads SET status = 'error', updated_at = now() WHERE thread_id = %s",
        (before["thread_id"],),
    )
    done = {"status": "run_done", "run_id": str(before["run_id"])}
    await event_log.append(
        conn,
        channel,
        run_id=str(before["run_id"]),
        thread_id=str(before["thread_id"]),
        events=[event_log.event(event_log.RUN_DONE, done)],
    )
