"""Publishes a super-step's stream events to the event log while the step runs.

Events are written in batches by one background task: whatever the graph emitted while the
previous batch was being written goes in the next, so a token reaches Postgres in about one
round trip when the step is quiet and the batches grow (never the round trips) when it is busy.
The graph only waits when the backlog reaches its bound.

A durable write of the step (its checkpoint, its task writes) takes the events not yet written
into its own transaction (``lend``): they reach Postgres with it, never after it, and the step
pays one round trip for both instead of two. While the saver holds such writes back (until the
step's end) the writer leaves the events to them, for ``_DEFER_SECONDS`` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from psycopg import AsyncCursor

from graphyard import redaction
from graphyard.storage import events as event_log
from graphyard.storage.db import Pool
from graphyard.types import RunRef

_MAX_BACKLOG = 2_000
# How long the writer leaves events for the durable writes the saver holds back (sent when the
# step ends, within milliseconds) before it writes them on its own.
_DEFER_SECONDS = 0.05


class StepPublisher:
    """``async with`` it around a step; ``emit`` events; ``lend`` them to durable writes."""

    def __init__(
        self, pool: Pool, channel: str, run: RunRef, step: int, quiet: asyncio.Event
    ) -> None:
        """``quiet``: set while the saver holds no write back that would ``lend`` the events."""
        self._pool = pool
        self._quiet = quiet
        self._channel = channel
        self._run = run
        self._step = step
        # Whether a batch of this step is in Postgres: the first one says which attempt it is.
        self._started = False
        self._backlog: list[event_log.Event] = []
        # Held by whoever writes a batch (the writer, or a lender until its transaction ends),
        # so batches reach Postgres in the order they were emitted.
        self._writing = asyncio.Lock()
        self._pending = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StepPublisher:
        self._task = asyncio.create_task(self._write_loop(), name="graphyard-step-publisher")
        # A dead writer wakes an emit waiting for room, which then raises its error.
        self._task.add_done_callback(lambda _: self._room.set())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        self._pending.set()
        assert self._task is not None
        if exc_type is asyncio.CancelledError:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=exc is not None)

    async def emit(self, name: str, data: Any) -> None:
        """Queue an event; waits only while the backlog is full (Postgres is behind)."""
        while len(self._backlog) >= _MAX_BACKLOG:
            self._check_writer()
            self._room.clear()
            await self._room.wait()
        event = event_log.event(name, data)
        if redaction.has_secrets():
            # A failed task's error (tasks and debug modes) may quote the worker's secrets.
            event = event_log.Event(event.event, redaction.mask(event.data))
        self._backlog.append(event)
        self._pending.set()

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[Callable[[AsyncCursor[Any]], Awaitable[None]]]:
        """The events not yet written, as a statement to queue on a cursor whose transaction
        ends inside the block: the writer waits meanwhile, and if the block fails the events
        are given back, ahead of those emitted since."""
        async with self._writing:
            batch, self._backlog = self._backlog, []
            self._room.set()

            async def queue(cur: AsyncCursor[Any]) -> None:
                if batch:
                    await self._append(cur, batch)

            try:
                yield queue
            except BaseException:
                self._backlog[:0] = batch
                self._pending.set()
                raise
            self._started = self._started or bool(batch)

    def _check_writer(self) -> None:
        # A dead writer would leave emit waiting forever: raise its error instead.
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the event writer stopped")

    async def _write_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            if not self._quiet.is_set() and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), _DEFER_SECONDS)
            async with self._writing:
                batch, self._backlog = self._backlog, []
                self._room.set()
                if batch:
                    async with self._pool.connection() as conn, conn.cursor() as cur:
                        await self._append(cur, batch)
                    self._started = True
            if self._closing and not self._backlog:
                return

    async def _append(self, cur: AsyncCursor[Any], batch: list[event_log.Event]) -> None:
        await event_log.append_step(
            cur,
            self._channel,
            run_id=self._run.run_id,
            thread_id=self._run.thread_id,
            step=self._step,
            events=batch,
            first=not self._started,
        )
