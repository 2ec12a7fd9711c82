"""The stream event log: what every run streamed, in order, for live followers and replays.

Writers notify the run's and the thread's event keys (``storage/wake.py``) on the runs channel
after each batch, so followers in any API process wake without polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from psycopg import AsyncCursor

from graphyard.serde import dumps_str
from graphyard.storage import wake
from graphyard.storage.rows import Conn, RunEventRow, ThreadEventRow
from graphyard.storage.statuses import LIVE_SQL

# The last event of every run: ends run streams; thread streams show it as ``metadata``.
RUN_DONE = "run_done"
# A run stopped at an interrupt to wait for its answer: ends the streams that were following
# it; the answer opens the next segment with a ``metadata`` event.
RUN_PAUSED = "run_paused"
# A ``POST /threads/{t}/state``: only thread streams asked for ``state_update`` show it.
STATE_UPDATE = "state_update"


@dataclass(frozen=True)
class Event:
    event: str
    data: str  # JSON text, as it goes on the wire


def event(name: str, data: Any) -> Event:
    return Event(name, dumps_str(data))


async def append(
    conn: Conn,
    channel: str,
    *,
    run_id: str | None,
    thread_id: str | None,
    events: list[Event],
    step: int | None = None,
    attempt: int = 1,
) -> None:
    """Append events in order and wake their followers, in one statement (atomic without a
    transaction; in the caller's, if any)."""
    await conn.execute(
        """
        WITH inserted AS (
            INSERT INTO run_events (run_id, thread_id, step, attempt, event, data)
            SELECT %s, %s, %s, %s, e, d
            FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(e, d, i) ORDER BY i
        )
        SELECT pg_notify(%s, %s)
        """,
        (
            *(run_id, thread_id, step, attempt),
            *([e.event for e in events], [e.data for e in events]),
            *(channel, wake.events_of(run_id, thread_id)),
        ),
    )


# Which attempt at step %(step)s a writer is, from the run's last event: if that came from
# the same step, an earlier attempt streamed part of it and then died. A retry marker (an
# attempt's "metadata" event) already written for the step counts as this attempt's own.
_ATTEMPT = """
    last AS (
        SELECT step, attempt, event FROM run_events WHERE run_id = %(run)s::uuid
        ORDER BY seq DESC LIMIT 1
    ), this AS (
        SELECT CASE WHEN last.step IS DISTINCT FROM %(step)s::int THEN 1
                    WHEN last.event = 'metadata' THEN last.attempt
                    ELSE last.attempt + 1 END AS attempt,
               last.step IS NOT DISTINCT FROM %(step)s::int AND last.event <> 'metadata' AS retried
        FROM (SELECT 1) AS one LEFT JOIN last ON true
    )"""


# A step's later batches are the attempt its first batch was: that of its last event.
_SAME_ATTEMPT = """
    this AS (
        SELECT coalesce((
            SELECT attempt FROM run_events WHERE run_id = %(run)s::uuid AND step = %(step)s::int
            ORDER BY seq DESC LIMIT 1
        ), 1) AS attempt
    )"""


async def append_step(
    cur: AsyncCursor[Any],
    channel: str,
    *,
    run_id: str,
    thread_id: str,
    step: int,
    events: list[Event],
    first: bool,
) -> None:
    """Append a batch of the events a step activity streams and wake their followers, in one
    statement that returns nothing (so it can go in another write's pipeline).

    The step's ``first`` batch works out which attempt it is; if the step is retried it says
    so first with a ``metadata`` event (``{"run_id", "attempt"}``), as the reference server
    does on retries, so a client knows that what follows may repeat what the failed attempt
    streamed. (The parameters are cast: a pipeline's cursor sends them typed, in binary.)
    """
    await cur.execute(
        f"""
        WITH {_ATTEMPT if first else _SAME_ATTEMPT}, batch AS (
            SELECT 0::bigint AS i, 'metadata' AS e,
                json_build_object('run_id', %(run)s::text, 'attempt', this.attempt)::text AS d
            FROM this WHERE {"this.retried" if first else "false"}
            UNION ALL
            SELECT t.i, t.e, t.d FROM unnest(%(events)s::text[], %(datas)s::text[])
                WITH ORDINALITY AS t(e, d, i)
        ), inserted AS (
            INSERT INTO run_events (run_id, thread_id, step, attempt, event, data)
            SELECT %(run)s::uuid, %(thread)s::uuid, %(step)s::int, (SELECT attempt FROM this), e, d
            FROM batch ORDER BY i
        )
        SELECT pg_notify(%(channel)s, %(wake)s)
        """,
        {
            "run": run_id,
            "thread": thread_id,
            "step": step,
            "events": [e.event for e in events],
            "datas": [e.data for e in events],
            "channel": channel,
            "wake": wake.events_of(run_id, thread_id),
        },
    )


async def mark_retry(conn: Conn, channel: str, *, run_id: str, thread_id: str, step: int) -> None:
    """A step found already run (its worker died after its checkpoint) may have streamed part
    of what the next step now streams again: announce that step as a retry."""
    await conn.execute(
        f"""
        WITH {_ATTEMPT}, inserted AS (
            INSERT INTO run_events (run_id, thread_id, step, attempt, event, data)
            SELECT %(run)s, %(thread)s, %(step)s + 1, this.attempt, 'metadata',
                json_build_object('run_id', %(run)s::text, 'attempt', this.attempt)::text
            FROM this WHERE this.retried
        )
        SELECT pg_notify(%(channel)s, %(wake)s)
        """,
        {
            "run": run_id,
            "thread": thread_id,
            "step": step,
            "channel": channel,
            "wake": wake.events_of(run_id, thread_id),
        },
    )


async def for_run(conn: Conn, run_id: str, after: int, limit: int) -> list[RunEventRow]:
    cur = await conn.execute(
        """
        SELECT seq, event, data FROM run_events WHERE run_id = %s AND seq > %s
        ORDER BY seq LIMIT %s
        """,
        (run_id, after, limit),
    )
    return cast(list[RunEventRow], await cur.fetchall())


async def for_thread(conn: Conn, thread_id: str, after: int, limit: int) -> list[ThreadEventRow]:
    cur = await conn.execute(
        """
        SELECT seq, run_id, event, data, created_at FROM run_events
        WHERE thread_id = %s AND seq > %s ORDER BY seq LIMIT %s
        """,
        (thread_id, after, limit),
    )
    return cast(list[ThreadEventRow], await cur.fetchall())


async def run_start(conn: Conn, thread_id: str, *, run_id: str | None, seq: int | None) -> int:
    """Where a thread-centric protocol stream starts reading (the seq before the first event
    it reads): the start of ``run_id``, or of the run that logged ``seq``, or else of the
    thread's oldest run in flight (its newest run when none is); ``now`` for a run that has
    logged nothing yet. One statement, so a run's first events cannot fall between the two."""
    if seq is not None:
        query = """
            SELECT coalesce(
                (SELECT min(seq) - 1 FROM run_events WHERE run_id =
                    (SELECT run_id FROM run_events WHERE seq = %(seq)s AND thread_id = %(thread)s)),
                %(seq)s - 1) AS seq"""
    else:
        query = f"""
            SELECT coalesce(
                (SELECT min(seq) - 1 FROM run_events WHERE run_id = coalesce(%(run)s::uuid, (
                    SELECT run_id FROM runs WHERE thread_id = %(thread)s
                    ORDER BY {LIVE_SQL} DESC,
                        CASE WHEN {LIVE_SQL} THEN created_at END ASC,
                        created_at DESC
                    LIMIT 1))),
                (SELECT max(seq) FROM run_events), 0) AS seq"""
    cur = await conn.execute(query, {"seq": seq, "thread": thread_id, "run": run_id})
    row = await cur.fetchone()
    return max(int(row["seq"]), 0) if row else 0


async def last_seq(conn: Conn) -> int:
    """The newest event's seq: where a thread stream joined without ``Last-Event-ID`` starts."""
    cur = await conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM run_events")
    row = await cur.fetchone()
    return int(row["seq"]) if row else 0


async def prune(conn: Conn, retention: timedelta) -> int:
    """Drop events older than the retention period; returns how many went."""
    cur = await conn.execute(
        "DELETE FROM run_events WHERE created_at < now() - %s::interval", (retention,)
    )
    return cur.rowcount
