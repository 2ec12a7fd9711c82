"""Per-key wake-ups from the runs' ``LISTEN/NOTIFY`` channel, one listening connection per
process (the API's run waiter, a worker's cancel watch).

A notification is a list of keys and only a wake-up call: whoever wakes re-reads Postgres.
Notifications lost while the connection was down wake every subscriber.

The connection is read when its socket is readable, through libpq's own calls
(``consume_input``, ``notifies``): psycopg's ``notifies()`` re-arms its wait ten times a second,
which kept every idle API and worker process waking 10 times a second for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncGenerator, Iterator

from psycopg import AsyncConnection, OperationalError, sql

from graphyard.config import Settings
from graphyard.storage.db import notify_channel

log = logging.getLogger(__name__)

_IDLE_READ_SECONDS = 5.0


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``. (``asyncio.timeout``, not ``wait_for``:
    3.11's ``wait_for`` swallows a cancellation that meets an event already set, and a loop
    waiting that way outlives the task that was cancelled.)"""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class Listener:
    """Listens on the settings' channel; ``subscribe(key)`` gives an event set when ``key`` is
    notified. With ``recent``, the last keys heard are kept, so that a subscriber arriving
    just after its key's notification still hears it."""

    def __init__(self, settings: Settings, name: str, *, recent: int = 0) -> None:
        self._uri = settings.database_uri
        self._channel = notify_channel(settings)
        self._name = name
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._keep = recent
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Listen; returns once listening (``TimeoutError`` after 30 s)."""
        self._task = asyncio.create_task(self._listen(), name=self._name)
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``key`` is notified (or notifications may have been lost)."""
        event = asyncio.Event()
        if key in self._recent:
            event.set()
        self._events[key].add(event)
        try:
            yield event
        finally:
            self._events[key].discard(event)
            if not self._events[key]:
                del self._events[key]

    async def _listen(self) -> None:
        while True:
            try:
                async with await AsyncConnection.connect(self._uri, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._ready.set()
                    self._wake_all()  # anything notified while we were away
                    async with contextlib.aclosing(_payloads(conn)) as payloads:
                        async for payload in payloads:
                            for key in payload.split():
                                self._wake(key)
            except OperationalError as exc:
                log.warning("%s: notifications lost (%s); reconnecting", self._name, exc)
                self._wake_all()
                await asyncio.sleep(1)

    def _wake(self, key: str) -> None:
        if self._keep:
            self._recent[key] = None
            self._recent.move_to_end(key)
            if len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        for event in self._events.get(key, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()


async def _payloads(conn: AsyncConnection[object]) -> AsyncGenerator[str, None]:
    """The payloads of the notifications ``conn`` receives, read only when its socket is
    readable; ``OperationalError`` once the connection is lost."""
    pgconn = conn.pgconn
    readable = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The number is kept: once libpq drops a lost connection it has no socket to ask for,
    # and a descriptor left registered breaks the next connection that reuses its number.
    fd = pgconn.socket
    loop.add_reader(fd, readable.set)
    try:
        while True:
            # The timeout only guards against bytes a TLS layer holds that the socket no
            # longer signals: a read every few seconds instead of ten a second.
            await woken(readable, _IDLE_READ_SECONDS)
            readable.clear()
            pgconn.consume_input()
            while (note := pgconn.notifies()) is not None:
                yield note.extra.decode()
    finally:
        loop.remove_reader(fd)
