"""Server-sent events as the reference server frames them, followed live from the event log.

Every frame carries ``id: <seq>`` (the log's order), so any stream can be resumed with
``Last-Event-ID`` from any API process. The API holds at most one batch per stream in memory and
reads the next only once the client took the last: a slow client slows only itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent

from graphyard.errors import Unprocessable
from graphyard.runs.backends import Services
from graphyard.runs.reconcile import reconciled
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import wake as wake_keys
from graphyard.storage.listener import woken
from graphyard.telemetry import metrics
from graphyard.types import TERMINAL_STATUSES

_BATCH = 500
# The run-mode events a thread stream's "lifecycle" mode keeps.
_LIFECYCLE = frozenset({"metadata", event_log.RUN_DONE})


def frame(event: str, data: str, seq: int) -> bytes:
    return f"event: {event}\r\ndata: {data}\r\nid: {seq}\r\n\r\n".encode()


def last_event_id(header: str | None) -> int:
    """The seq after which to resume; ``0``, ``-`` or ``-1`` replays from the start."""
    # useStream (@langchain/langgraph-sdk) sends -1 when a reloaded page joins its run again.
    if header is None or header.strip() in ("", "-", "-1"):
        return 0
    try:
        value = int(header.strip())
    except ValueError:
        raise Unprocessable(f"Invalid Last-Event-ID: {header!r}") from None
    if value < 0:
        raise Unprocessable(f"Invalid Last-Event-ID: {header!r}")
    return value


def stream_modes(values: list[str] | None) -> set[str] | None:
    """``stream_mode`` query values: each a mode or a JSON array of modes; none means all."""
    modes: set[str] = set()
    for value in values or []:
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise Unprocessable(f"Invalid stream_mode: {value!r}") from None
            if not isinstance(parsed, list) or not all(isinstance(m, str) for m in parsed):
                raise Unprocessable(f"Invalid stream_mode: {value!r}")
            modes.update(parsed)
        elif text:
            modes.add(text)
    return modes or None


def run_event_filter(modes: set[str] | None) -> Callable[[str], bool]:
    """Which of a run's events a join with ``stream_mode`` forwards (always its metadata and
    error); a namespaced event ``mode|ns`` matches by its mode."""
    if modes is None:
        return lambda _event: True
    messages = bool(modes & {"messages", "messages-tuple"})

    def keep(event: str) -> bool:
        base = event.split("|", 1)[0]
        if base in ("metadata", "error") or base in modes:
            return True
        return messages and base.startswith("messages")

    return keep


def response(
    body: AsyncIterator[bytes], services: Services, headers: Mapping[str, str]
) -> EventSourceResponse:
    return EventSourceResponse(
        body,
        headers=dict(headers),
        media_type="text/event-stream; charset=utf-8",
        sep="\r\n",
        ping=services.settings.stream_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat", sep="\r\n"),
        # A client that stops reading is dropped, never buffered for.
        send_timeout=services.settings.stream_send_timeout_seconds,
    )


async def _still_paused(services: Services, run_id: str, seq: int) -> bool:
    async with services.pool.connection() as conn:
        row = await run_rows.get(conn, run_id)
        later = await event_log.for_run(conn, run_id, seq, 1)
    return row is not None and row["waiting"] and not later


async def _live(services: Services, run_id: str) -> bool:
    async with services.pool.connection() as conn:
        row = await run_rows.get(conn, run_id)
    if row is not None:
        # A run whose workflow closed without its end gets one now (and its marker).
        row = await reconciled(services, row)
    return row is not None and row["status"] not in TERMINAL_STATUSES


async def follow_run(
    services: Services,
    run_id: str,
    *,
    after: int = 0,
    keep: Callable[[str], bool] = lambda _event: True,
    on_abandon: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """A run's events after ``after``, then live ones until its end. ``on_abandon`` runs if
    the client leaves before that."""
    ended = False
    tick = services.settings.stream_heartbeat_seconds
    streams = metrics.ACTIVE_STREAMS.labels("run")
    streams.inc()
    try:
        with services.waiter.subscribe(wake_keys.run_events(run_id)) as wake:
            checked = gone = False
            while True:
                wake.clear()
                async with services.pool.connection() as conn:
                    rows = await event_log.for_run(conn, run_id, after, _BATCH)
                for row in rows:
                    after = row["seq"]
                    if row["event"] == event_log.RUN_DONE:
                        ended = True
                        return
                    if row["event"] == event_log.RUN_PAUSED:
                        # The run stopped at an interrupt: the stream ends, unless the run
                        # was resumed since (its next segment follows).
                        if row is rows[-1] and await _still_paused(services, run_id, after):
                            ended = True
                            return
                        continue
                    if keep(row["event"]):
                        yield frame(row["event"], row["data"], after)
                if rows:
                    checked = False
                    continue
                if gone:
                    ended = True
                    return
                # Nothing new. A run that ended without its marker (its events were pruned,
                # or it was deleted) must not hold the stream open; one that ended since the
                # read above has its last events (and marker) to read first.
                if not checked and not await _live(services, run_id):
                    gone = True
                    continue
                checked = True
                if not await woken(wake, tick):
                    checked = False
    finally:
        streams.dec()
        if not ended and on_abandon is not None:
            on_abandon()


async def follow_thread(
    services: Services, thread_id: str, *, after: int | None, modes: set[str]
) -> AsyncIterator[bytes]:
    """Every run of a thread, one after the other, as they come; never ends on its own."""
    tick = services.settings.stream_heartbeat_seconds
    streams = metrics.ACTIVE_STREAMS.labels("thread")
    streams.inc()
    try:
        with services.waiter.subscribe(wake_keys.thread_events(thread_id)) as wake:
            if after is None:
                async with services.pool.connection() as conn:
                    after = await event_log.last_seq(conn)
            while True:
                wake.clear()
                async with services.pool.connection() as conn:
                    rows = await event_log.for_thread(conn, thread_id, after, _BATCH)
                for row in rows:
                    after = row["seq"]
                    event = row["event"]
                    if event == event_log.RUN_PAUSED:
                        continue
                    if event == event_log.STATE_UPDATE:
                        if "state_update" in modes:
                            yield frame(event, row["data"], after)
                        continue
                    if not ("run_modes" in modes or ("lifecycle" in modes and event in _LIFECYCLE)):
                        continue
                    name = "metadata" if event == event_log.RUN_DONE else event
                    yield frame(name, row["data"], after)
                if len(rows) < _BATCH:
                    await woken(wake, tick)
    finally:
        streams.dec()


def thread_stream_modes(values: list[str] | None) -> set[str]:
    modes = stream_modes(values) or {"run_modes"}
    unknown = modes - {"run_modes", "lifecycle", "state_update"}
    if unknown:
        raise Unprocessable(
            f"Invalid stream_modes: {sorted(unknown)}; expected run_modes, lifecycle or "
            "state_update"
        )
    return modes
