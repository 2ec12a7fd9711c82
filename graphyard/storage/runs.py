"""Run rows: created by the API, moved through their statuses by the worker's activities."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from psycopg import AsyncCursor
from psycopg.rows import DictRow

from graphyard.storage import wake
from graphyard.storage.events import Event
from graphyard.storage.filters import Scope, run_where
from graphyard.storage.jsonb import jsonb
from graphyard.storage.rows import Conn, RunRow, StartedRunRow
from graphyard.storage.statuses import ACTIVE_SQL, LIVE_SQL
from graphyard.types import ACTIVE_STATUSES


async def insert(
    conn: Conn,
    *,
    run_id: str,
    thread_id: str,
    assistant_id: str,
    metadata: dict[str, Any],
    kwargs: dict[str, Any],
    multitask_strategy: str | None,
) -> tuple[RunRow, bool]:
    """Insert a pending run; an existing row with the same id is returned instead (idempotency).
    The flag says whether this call created it."""
    cur = await conn.execute(
        """
        INSERT INTO runs (run_id, thread_id, assistant_id, metadata, kwargs, multitask_strategy,
            created_at, updated_at)
        -- The clock, not the transaction's start: under the thread's lock, runs created one
        -- after the other must also sort so (a thread's queue follows this order).
        VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp(), clock_timestamp())
        ON CONFLICT (run_id) DO NOTHING
        RETURNING *
        """,
        (run_id, thread_id, assistant_id, jsonb(metadata), jsonb(kwargs), multitask_strategy),
    )
    row = cast(RunRow | None, await cur.fetchone())
    if row is not None:
        return row, True
    existing = await get(conn, run_id)
    assert existing is not None
    return existing, False


async def get(
    conn: Conn, run_id: str, thread_id: str | None = None, *, scope: Scope = None
) -> RunRow | None:
    """The run (on ``thread_id`` if given), if ``scope`` (an auth filter) lets the caller see
    it."""
    clause, params = run_where(scope)
    cur = await conn.execute(
        f"SELECT * FROM runs WHERE run_id = %s AND (%s::uuid IS NULL OR thread_id = %s::uuid)"
        f" AND {clause}",
        [run_id, thread_id, thread_id, *params],
    )
    return cast(RunRow | None, await cur.fetchone())


async def delete(conn: Conn, run_id: str, *, scope: Scope = None) -> bool:
    """Delete a run and what it streamed; ``False`` if there is no such run (in ``scope``)."""
    clause, params = run_where(scope)
    cur = await conn.execute(
        f"DELETE FROM runs WHERE run_id = %s AND {clause} RETURNING run_id", [run_id, *params]
    )
    if await cur.fetchone() is None:
        return False
    await conn.execute("DELETE FROM run_events WHERE run_id = %s", (run_id,))
    return True


async def prune_stateless(conn: Conn, retention: timedelta) -> int:
    """Delete the rows of stateless runs that ended longer than ``retention`` ago and took
    their thread with them (the thread-TTL sweep and thread deletes find runs by their
    thread, so nothing else ever would); how many went. Their stream events are past the same
    retention."""
    cur = await conn.execute(
        """
        DELETE FROM runs r
        WHERE (r.kwargs ->> 'temporary')::boolean AND r.ended_at < now() - %s::interval
            AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.thread_id = r.thread_id)
        """,
        (retention,),
    )
    return cur.rowcount


async def mark_running(conn: Conn, run_id: str) -> StartedRunRow | None:
    """Move a pending run to ``running``; returns the row whatever its status, with
    ``queue_wait``: the seconds it was pending (since it was created or sent back to
    ``pending`` by a retry), or ``None`` if this call did not move it."""
    cur = await conn.execute(
        """
        WITH moved AS (
            UPDATE runs SET status = 'running', started_at = coalesce(runs.started_at, now()),
                updated_at = now()
            FROM runs AS before
            WHERE runs.run_id = %(r)s AND runs.status = 'pending' AND before.run_id = runs.run_id
            RETURNING runs.*, extract(epoch FROM now() - before.updated_at)::float8 AS queue_wait
        )
        SELECT * FROM moved UNION ALL
        SELECT *, NULL::float8 FROM runs WHERE run_id = %(r)s AND NOT EXISTS (SELECT 1 FROM moved)
        """,
        {"r": run_id},
    )
    return cast(StartedRunRow | None, await cur.fetchone())


async def finish(
    conn: Conn,
    run_id: str,
    *,
    status: str,
    output: Any,
    error: Any,
    last_events: list[Event],
    webhook: bool = False,
    values: Any = None,
) -> AsyncCursor[DictRow]:
    """Write a run's terminal status and result once, with its last stream events; a run
    already ended keeps its status and streams nothing more. ``webhook``: the run has one to
    deliver, with the ``values`` it ended with. The cursor's row (once the statement ran)
    holds the run's age in ``seconds``, and there is none if it had ended."""
    return await conn.execute(
        f"""
        WITH ended AS (
            UPDATE runs SET status = %(status)s, output = %(output)s, error = %(error)s,
                waiting = false, ended_at = now(), updated_at = now(),
                webhook_delivery = CASE WHEN %(webhook)s
                    THEN '{{"status": "pending", "attempts": 0}}'::jsonb END,
                end_values = CASE WHEN %(webhook)s THEN %(values)s::jsonb END
            WHERE run_id = %(run)s AND {LIVE_SQL}
            RETURNING run_id, thread_id, created_at
        ), streamed AS (
            INSERT INTO run_events (run_id, thread_id, event, data)
            SELECT ended.run_id, ended.thread_id, e, d
            FROM ended, unnest(%(events)s::text[], %(datas)s::text[]) WITH ORDINALITY AS t(e, d, i)
            ORDER BY i
        )
        SELECT extract(epoch FROM now() - created_at)::float8 AS seconds FROM ended
        """,
        {
            "status": status,
            "output": jsonb(output),
            "error": jsonb(error),
            "run": run_id,
            "events": [e.event for e in last_events],
            "datas": [e.data for e in last_events],
            "webhook": webhook,
            "values": jsonb(values),
        },
    )


async def record_webhook(conn: Conn, run_id: str, delivery: dict[str, Any]) -> None:
    """Write how the run's webhook went (``updated_at`` stays: the run itself did not
    change)."""
    await conn.execute(
        "UPDATE runs SET webhook_delivery = %s WHERE run_id = %s", (jsonb(delivery), run_id)
    )


async def fail_webhook(conn: Conn, run_id: str, error: str, attempts: int | None) -> None:
    """Mark the run's webhook ``failed`` (retries are over). What the last attempt recorded
    stands; when it recorded nothing (it timed out, its worker died), ``attempts`` and
    ``error`` say what happened instead."""
    await conn.execute(
        """
        UPDATE runs SET webhook_delivery = CASE
            WHEN %(attempts)s::int IS NULL
                OR coalesce((webhook_delivery->>'attempts')::int, 0) >= %(attempts)s::int
            THEN coalesce(webhook_delivery, '{}'::jsonb)
                || jsonb_build_object('status', 'failed')
                || CASE WHEN webhook_delivery ? 'last_error' THEN '{}'::jsonb
                    ELSE jsonb_build_object('last_error', %(error)s::text) END
            ELSE coalesce(webhook_delivery, '{}'::jsonb) || jsonb_build_object(
                'status', 'failed', 'attempts', %(attempts)s::int, 'status_code', NULL,
                'last_error', %(error)s::text)
            END
        WHERE run_id = %(run)s AND coalesce(webhook_delivery->>'status', '') <> 'delivered'
        """,
        {"run": run_id, "error": error, "attempts": attempts},
    )


async def pause(
    conn: Conn, run_id: str, *, output: Any, last_events: list[Event]
) -> AsyncCursor[DictRow]:
    """A live run stops at an interrupt and waits for its answer (status ``interrupted``);
    its streams end here, with ``last_events``. The cursor's ``rowcount`` (once the statement
    ran) is 0 if the run was not live.

    ``pending`` counts: after a workflow task timed out, a first step's late attempt can mark
    the run ``running`` after a later step paused it; ``mark_running`` moves only ``pending``
    rows, so the pause stands either way."""
    return await conn.execute(
        f"""
        WITH paused AS (
            UPDATE runs SET status = 'interrupted', waiting = true, output = %(output)s,
                started_at = coalesce(started_at, now()), updated_at = now()
            WHERE run_id = %(run)s AND {ACTIVE_SQL}
            RETURNING run_id, thread_id
        )
        INSERT INTO run_events (run_id, thread_id, event, data)
        SELECT paused.run_id, paused.thread_id, e, d
        FROM paused, unnest(%(events)s::text[], %(datas)s::text[]) WITH ORDINALITY AS t(e, d, i)
        ORDER BY i
        """,
        {
            "output": jsonb(output),
            "run": run_id,
            "events": [e.event for e in last_events],
            "datas": [e.data for e in last_events],
        },
    )


async def resume(conn: Conn, run_id: str, kwargs: dict[str, Any] | None = None) -> int | None:
    """Move a run waiting at an interrupt back to ``running`` (its thread to ``busy``) and open
    its next stream segment with a ``metadata`` event; ``kwargs`` (stream modes) are merged into
    its own. Returns that event's seq, or ``None`` if the run was not waiting (someone else
    resumed it first)."""
    cur = await conn.execute(
        """
        WITH resumed AS (
            UPDATE runs SET status = 'running', waiting = false, output = NULL, updated_at = now(),
                kwargs = kwargs || %(kwargs)s
            WHERE run_id = %(run)s AND waiting
            RETURNING run_id, thread_id
        ), busy AS (
            UPDATE threads SET status = 'busy', updated_at = now()
            WHERE thread_id = (SELECT thread_id FROM resumed)
        )
        INSERT INTO run_events (run_id, thread_id, event, data)
        SELECT run_id, thread_id, 'metadata',
            json_build_object('run_id', run_id::text, 'attempt', 1)::text
        FROM resumed
        RETURNING seq
        """,
        {"run": run_id, "kwargs": jsonb(kwargs or {})},
    )
    row = await cur.fetchone()
    return int(row["seq"]) if row else None


async def unresume(conn: Conn, run_id: str) -> None:
    """Undo ``resume`` when the answer could not be delivered."""
    await conn.execute(
        """
        UPDATE runs SET status = 'interrupted', waiting = true, updated_at = now()
        WHERE run_id = %s AND status = 'running'
        """,
        (run_id,),
    )


async def waiting_on_thread(conn: Conn, thread_id: str) -> RunRow | None:
    """The thread's run waiting at an interrupt, if any (locked until the transaction ends)."""
    cur = await conn.execute(
        "SELECT * FROM runs WHERE thread_id = %s AND waiting FOR UPDATE", (thread_id,)
    )
    return cast(RunRow | None, await cur.fetchone())


async def list_for_thread(
    conn: Conn,
    thread_id: str,
    *,
    limit: int,
    offset: int,
    status: str | None,
    scope: Scope = None,
) -> list[RunRow]:
    """A thread's runs, newest first."""
    clause, params = run_where(scope)
    cur = await conn.execute(
        f"""
        SELECT * FROM runs WHERE thread_id = %s AND (%s::text IS NULL OR status = %s)
          AND {clause}
        ORDER BY created_at DESC, run_id DESC LIMIT %s OFFSET %s
        """,
        [thread_id, status, status, *params, limit, offset],
    )
    return cast(list[RunRow], await cur.fetchall())


async def select_live(
    conn: Conn,
    *,
    thread_id: str | None = None,
    run_ids: list[str] | None = None,
    status: str | None = None,
    scope: Scope = None,
) -> list[RunRow]:
    """Runs that can still be cancelled (pending, running, or waiting at an interrupt),
    narrowed by the given filters (and ``scope``)."""
    statuses = list(ACTIVE_STATUSES) if status in (None, "all") else [status]
    clause, params = run_where(scope)
    cur = await conn.execute(
        f"""
        SELECT * FROM runs WHERE (status = ANY(%s) OR (waiting AND %s))
          AND (%s::uuid IS NULL OR thread_id = %s::uuid)
          AND (%s::uuid[] IS NULL OR run_id = ANY(%s::uuid[]))
          AND {clause}
        """,
        [statuses, status in (None, "all"), thread_id, thread_id, run_ids, run_ids, *params],
    )
    return cast(list[RunRow], await cur.fetchall())


async def count_live(conn: Conn) -> dict[str, int]:
    """How many runs are pending, running, and interrupted waiting for an answer (each count
    served by a partial index)."""
    cur = await conn.execute(
        f"""
        SELECT status, count(*) AS n FROM runs WHERE {ACTIVE_SQL}
        GROUP BY status
        UNION ALL SELECT 'interrupted', count(*) FROM runs WHERE waiting
        """
    )
    counts = {"pending": 0, "running": 0, "interrupted": 0}
    counts.update({row["status"]: int(row["n"]) for row in await cur.fetchall()})
    return counts


async def request_cancel(conn: Conn, run_ids: list[str], channel: str) -> None:
    """Record that the runs are being stopped on purpose (before their workflows hear it), and
    wake their steps in flight (``cancel:<run_id>`` on ``channel``, activities/cancel_watch.py)."""
    await conn.execute(
        "UPDATE runs SET cancel_requested_at = now() WHERE run_id = ANY(%s::uuid[])"
        " AND cancel_requested_at IS NULL",
        (run_ids,),
    )
    await wake.notify(conn, channel, [wake.cancel(run_id) for run_id in run_ids])


async def cancel_requested(conn: Conn, run_id: str) -> bool:
    """Whether someone asked to stop the run (``request_cancel``), or deleted it."""
    cur = await conn.execute(
        "SELECT cancel_requested_at IS NOT NULL AS requested FROM runs WHERE run_id = %s",
        (run_id,),
    )
    row = await cur.fetchone()
    return row is None or bool(row["requested"])
