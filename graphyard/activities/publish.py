"""Publishes a super-step's stream events to the event log while the step runs.

Events are written in batches by one background task: whatever the graph emitted while the
previous batch was being written goes in the next, so a token reaches Postgres in about one
round trip when the step is quiet and the batches grow (never the round trips) when it is busy.
The graph only waits when the backlog reaches its bound.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from graphyard import redaction
from graphyard.storage import events as event_log
from graphyard.storage.db import Pool
from graphyard.types import RunRef

_MAX_BACKLOG = 2_000


class StepPublisher:
    """``async with`` it around a step; ``emit`` events; ``flush`` before durable writes."""

    def __init__(self, pool: Pool, channel: str, run: RunRef, step: int) -> None:
        self._pool = pool
        self._channel = channel
        self._run = run
        self._step = step
        self._attempt: int | None = None
        self._backlog: list[event_log.Event] = []
        self._pending = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StepPublisher:
        self._task = asyncio.create_task(self._write_loop(), name="graphyard-step-publisher")
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
            await self._idle.wait()
        event = event_log.event(name, data)
        if redaction.has_secrets():
            # A failed task's error (tasks and debug modes) may quote the worker's secrets.
            event = event_log.Event(event.event, redaction.mask(event.data))
        self._backlog.append(event)
        self._idle.clear()
        self._pending.set()

    async def flush(self) -> None:
        """Return once every event emitted so far is in Postgres."""
        while self._backlog or not self._idle.is_set():
            self._check_writer()
            await self._idle.wait()

    def _check_writer(self) -> None:
        # A dead writer would leave emit and flush waiting forever: raise its error instead.
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the event writer stopped")

    async def _write_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            batch, self._backlog = self._backlog, []
            if batch:
                await self._write(batch)
            if not self._backlog:
                self._idle.set()
                if self._closing:
                    return

    async def _write(self, batch: list[event_log.Event]) -> None:
        run = self._run
        async with self._pool.connection() as conn:
            if self._attempt is None:
                self._attempt = await event_log.append_first(
                    conn,
                    self._channel,
                    run_id=run.run_id,
                    thread_id=run.thread_id,
                    step=self._step,
                    events=batch,
                )
            else:
                await event_log.append(
                    conn,
                    self._channel,
                    run_id=run.run_id,
                    thread_id=run.thread_id,
                    events=batch,
                    step=self._step,
                    attempt=self._attempt,
                )
