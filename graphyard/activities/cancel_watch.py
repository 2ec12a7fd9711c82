"""Hears, in a worker process, that a client asked to stop a run (``cancel_requested_at``).

Temporal tells a step it is cancelled late: a local step's workflow task is open while the step
runs, so the ``cancel`` signal reaches the workflow only once the step has ended; a regular
step learns it in the answer to a heartbeat, which the SDK sends at most every 80% of the
heartbeat timeout. The API therefore also notifies ``cancel:<run_id>`` on the runs' channel when
it records the request (storage/runs.py ``request_cancel``); one ``LISTEN`` connection per
worker process wakes the run's step, which re-reads the row before it stops (a notification is
only a wake-up call). Notifications lost while the connection was down wake every step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterator

from psycopg import AsyncConnection, OperationalError, sql

from graphyard.config import Settings
from graphyard.storage.db import notify_channel

log = logging.getLogger(__name__)

CANCEL_KEY = "cancel:"
# Runs whose cancel was heard lately: a step that subscribes just after its run's notification
# (between two steps) still hears it.
_RECENT = 4096


class CancelWatch:
    """Per-run wake-ups for the cancels clients asked for."""

    def __init__(self, settings: Settings) -> None:
        self._uri = settings.database_uri
        self._channel = notify_channel(settings)
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Listen (returns once listening, or after 30 s: Temporal's cancel still works)."""
        self._task = asyncio.create_task(self._listen(), name="graphyard-cancel-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set when a cancel of ``run_id`` may have been asked for."""
        event = asyncio.Event()
        if run_id in self._recent:
            event.set()
        self._events[run_id].add(event)
        try:
            yield event
        finally:
            self._events[run_id].discard(event)
            if not self._events[run_id]:
                del self._events[run_id]

    async def _listen(self) -> None:
        while True:
            try:
                async with await AsyncConnection.connect(self._uri, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._ready.set()
                    self._wake_all()  # anything asked while we were away
                    async for note in conn.notifies():
                        for key in note.payload.split():
                            if key.startswith(CANCEL_KEY):
                                self._wake(key.removeprefix(CANCEL_KEY))
            except OperationalError as exc:
                log.warning("cancel notifications lost (%s); reconnecting", exc)
                self._wake_all()
                await asyncio.sleep(1)

    def _wake(self, run_id: str) -> None:
        self._recent[run_id] = None
        self._recent.move_to_end(run_id)
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        for event in self._events.get(run_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()
