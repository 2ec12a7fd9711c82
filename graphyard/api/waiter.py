"""Wakes requests waiting for runs to end or streams to grow, from Postgres ``LISTEN/NOTIFY``.

One listening connection per API process. A notification is a list of keys (a run id when the
run ended, ``ev:<run_id>`` and ``th:<thread_id>`` when events were appended) and only a wake-up
call: waiters always re-read Postgres, and re-check on every keep-alive tick, so a lost
notification (a dropped connection, a restart) costs a few seconds, never a hung request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, OperationalError, sql

from graphyard.config import Settings
from graphyard.storage.db import notify_channel
from graphyard.storage.runs import TERMINAL

log = logging.getLogger(__name__)

Row = dict[str, Any]
RowFetcher = Callable[[], Awaitable[Row | None]]


@dataclass(frozen=True)
class Done:
    """The run ended (``row``) or vanished (``None``)."""

    row: Row | None


class RunWaiter:
    """Tracks which requests wait for which runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="graphyard-run-waiter")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        channel = sql.Identifier(notify_channel(self.settings))
        while True:
            try:
                async with await AsyncConnection.connect(
                    self.settings.database_uri, autocommit=True
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(channel))
                    self._ready.set()
                    self._wake_all()  # anything that ended while we were away
                    async for note in conn.notifies():
                        for key in note.payload.split():
                            self._wake(key)
            except OperationalError as exc:
                log.warning("run notifications lost (%s); reconnecting", exc)
                self._wake_all()
                await asyncio.sleep(1)

    def _wake(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``key`` is notified (or notifications may have been lost)."""
        event = asyncio.Event()
        self._events[key].add(event)
        try:
            yield event
        finally:
            self._events[key].discard(event)
            if not self._events[key]:
                del self._events[key]

    async def until_done(
        self, run_id: str, fetch: RowFetcher, tick: float, *, settled: bool = False
    ) -> AsyncIterator[Done | None]:
        """Yield ``None`` every ``tick`` seconds while the run is live (a keep-alive chance),
        then ``Done``. A run waiting at an interrupt is done, unless ``settled`` asks for its
        end."""
        with self.subscribe(run_id) as event:
            while True:
                row = await fetch()
                if row is None or (
                    row["status"] in TERMINAL and not (settled and row.get("waiting"))
                ):
                    yield Done(row)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=tick)
                if not event.is_set():
                    yield None
                event.clear()
