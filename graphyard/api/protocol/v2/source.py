"""A thread's protocol events, read from its durable event log and followed live (LISTEN/
NOTIFY wakes the reader, as ``graphyard.api.sse`` does for run streams).

Every event's ``seq`` is derived from the log: ``log seq * STRIDE + i`` for the i-th protocol
event a log row gives, and its ``event_id`` is ``"<log seq>.<i>"``. So any API process serves
the same events with the same ids and cursors, and ``since`` resumes exactly where a client
stopped, for as long as the log keeps the run (``GRAPHYARD_STREAM_RETENTION``-bound, no
in-memory window)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphyard.api.protocol.v2.channels import Projector
from graphyard.runs.backends import Services
from graphyard.storage import events as event_log
from graphyard.storage import wake as wake_keys
from graphyard.storage.listener import woken
from graphyard.telemetry import metrics

log = logging.getLogger(__name__)

STRIDE = 1000
_BATCH = 500


async def start_of(
    services: Services, thread_id: str, *, since: int | None = None, run_id: str | None = None
) -> int:
    """The log seq a stream reads after. Replay starts at a run's beginning even when resuming
    (``since``), because a message's or a subgraph's events depend on what came before them."""
    async with services.pool.connection() as conn:
        return await event_log.run_start(
            conn, thread_id, run_id=run_id, seq=since // STRIDE if since is not None else None
        )


def envelope(seq: int, index: int, out: Any, timestamp: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "namespace": out.namespace,
        "timestamp": timestamp,
        "data": out.data,
    }
    if out.node is not None:
        params["node"] = out.node
    return {
        "type": "event",
        "event_id": f"{seq}.{index}",
        "seq": seq * STRIDE + index,
        "method": out.method,
        "params": params,
    }


async def follow(
    services: Services, thread_id: str, *, after: int, since: int | None
) -> AsyncIterator[dict[str, Any]]:
    """The thread's protocol events from log seq ``after`` on, those past ``since`` only;
    never ends on its own."""
    projector = Projector()
    tick = services.settings.stream_heartbeat_seconds
    streams = metrics.ACTIVE_STREAMS.labels("protocol")
    streams.inc()
    try:
        with services.waiter.subscribe(wake_keys.thread_events(thread_id)) as wake:
            while True:
                wake.clear()
                async with services.pool.connection() as conn:
                    rows = await event_log.for_thread(conn, thread_id, after, _BATCH)
                for position, row in enumerate(rows):
                    after = row["seq"]
                    run_id = str(row["run_id"])
                    resumed = row["event"] == event_log.RUN_PAUSED and any(
                        str(later["run_id"]) == run_id for later in rows[position + 1 :]
                    )
                    outs = projector.feed(run_id, row["event"], row["data"], resumed=resumed)
                    if len(outs) >= STRIDE:
                        log.warning("log event %s gives %d protocol events", after, len(outs))
                        outs = outs[: STRIDE - 1]
                    timestamp = int(row["created_at"].timestamp() * 1000)
                    for index, out in enumerate(outs):
                        if since is None or after * STRIDE + index > since:
                            yield envelope(after, index, out, timestamp)
                if len(rows) < _BATCH:
                    await woken(wake, tick)
    finally:
        streams.dec()
