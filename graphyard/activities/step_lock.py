"""One super-step at a time per thread, across attempts, workers and processes.

The step guard (step.py) skips a step the thread is already past, but it cannot see a step
that is still running. Temporal may start a second attempt while the first still runs: a local
step's workflow task times out under a saturated CPU (the run is replayed elsewhere, the first
attempt goes on), or a regular step misses its heartbeat. Both attempts would then run the
same node. So a step holds its thread's lock while it checks the guard and runs: the second
attempt waits for the first to finish, then finds the thread moved on and only reports.

The lock is a Postgres session advisory lock taken on one connection per worker process (its
locks go with the connection, so a killed worker frees them at once), with an in-process lock
in front of it (a session may take its own advisory lock twice).

A step whose run goes on (a local step: the run's next one comes to this same process a few
milliseconds later) keeps the lock for that next step instead of giving it back and taking it
again: two round trips less per super-step. The lock is only ever held longer, never less: a
kept lock is given back after ``_KEEP`` seconds if no step of its thread came for it, and an
attempt elsewhere waits that long at most, as it waits for any holder. It is kept by this
process's session, so a dead worker or a lost connection still frees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import psycopg
from psycopg import AsyncConnection

from graphyard.config import Settings
from graphyard.keyed_locks import KeyedLocks
from graphyard.storage.db import connection_kwargs
from graphyard.telemetry import metrics

log = logging.getLogger(__name__)

# A contended lock is rare (an overlapping attempt): poll it, backing off up to this.
_POLL_MAX = 0.2
# How long a step waits for Postgres to come back (the pool's own wait for a connection).
_OUTAGE_WAIT = 30.0
# How long a kept lock waits for its thread's next step (which usually comes within ms).
_KEEP = 0.5


class Held:
    """A held step lock; ``keep`` it for the thread's next step, which comes to this process,
    with what that step may start from. ``carried``: what the previous step kept it with (it
    held the lock without a break since)."""

    def __init__(self, carried: Any = None) -> None:
        self.carried = carried
        self.kept = False
        self.value: Any = None

    def keep(self, value: Any = None) -> None:
        self.kept = True
        self.value = value


class StepLocks:
    """Per-thread step locks of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self._uri = settings.database_uri
        self._kwargs = connection_kwargs(settings)
        # Advisory locks are database-wide; schemas share a database.
        self._scope = settings.database_schema
        self._conn: AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()
        self._local = KeyedLocks()
        self._background: set[asyncio.Future[None]] = set()
        # Locks this session holds for their thread's next step: key -> (the connection that
        # holds it, the timer that gives it back, what the next step may start from).
        self._kept: dict[int, tuple[AsyncConnection[Any], asyncio.TimerHandle, Any]] = {}

    def _key(self, thread_id: str) -> int:
        digest = hashlib.blake2b(f"{self._scope}:{thread_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    @asynccontextmanager
    async def hold(self, thread_id: str, graph_id: str) -> AsyncIterator[Held]:
        """Hold the thread's step lock (waiting for an attempt that holds it elsewhere)."""
        key = self._key(thread_id)
        async with self._local.hold(key):
            started = time.monotonic()
            taken, carried = self._take_kept(key)
            if not taken and not await self._try(key):
                metrics.STEP_LOCK_WAITS.labels(graph_id).inc()
                await self._acquire(key)
                log.warning(
                    "a step of thread %s waited %.2f s for an earlier attempt of it",
                    thread_id,
                    time.monotonic() - started,
                )
            held = Held(carried if taken else None)
            kept = False
            try:
                yield held
                kept = held.kept and self._keep(key, held.value)
            finally:
                if not kept:
                    # Shielded: a cancelled step still gives its lock back.
                    release = asyncio.ensure_future(self._release(key))
                    self._background.add(release)
                    release.add_done_callback(self._background.discard)
                    await asyncio.shield(release)

    def _keep(self, key: int, value: Any) -> bool:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return False
        timer = asyncio.get_running_loop().call_later(_KEEP, self._give_back_kept, key)
        self._kept[key] = (conn, timer, value)
        return True

    def _take_kept(self, key: int) -> tuple[bool, Any]:
        """Whether this session still holds the lock, kept for this step, and with what."""
        kept = self._kept.pop(key, None)
        if kept is None:
            return False, None
        conn, timer, value = kept
        timer.cancel()
        # A lost connection lost its locks: then take the lock again.
        return conn is self._conn and not conn.closed and not conn.broken, value

    def _give_back_kept(self, key: int) -> None:
        # Not under the in-process lock: if a step takes the lock meanwhile, the session holds
        # it twice (advisory locks count) and this gives one back.
        if self._kept.pop(key, None) is not None:
            self._background.add(task := asyncio.ensure_future(self._release(key)))
            task.add_done_callback(self._background.discard)

    async def _acquire(self, key: int) -> None:
        delay = 0.01
        while not await self._try(key):
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    async def _try(self, key: int) -> bool:
        # A step cancelled while the query runs must not leave the lock taken: the query
        # finishes on its own, and gives back what it took.
        attempt = asyncio.ensure_future(
            self._query("SELECT pg_try_advisory_lock(%s) AS locked", key)
        )
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(lambda done: self._give_back(done, key))
            raise

    def _give_back(self, attempt: asyncio.Future[bool], key: int) -> None:
        if not attempt.cancelled() and attempt.exception() is None and attempt.result():
            self._background.add(task := asyncio.ensure_future(self._release(key)))
            task.add_done_callback(self._background.discard)

    async def _release(self, key: int) -> None:
        # A lost connection already released it (and dropping it releases the rest).
        with suppress(psycopg.Error):
            await self._query("SELECT pg_advisory_unlock(%s) AS locked", key, wait_out_outage=False)

    async def _query(self, sql: str, key: int, *, wait_out_outage: bool = True) -> bool:
        deadline = time.monotonic() + _OUTAGE_WAIT
        delay = 0.1
        while True:
            conn = None
            try:
                conn = await self._connection()
                cur = await conn.execute(sql, (key,))
                row = await cur.fetchone()
                return bool(row and row["locked"])
            except psycopg.OperationalError:
                # Postgres restarted: this session's locks went with it. Reconnect and wait for
                # it as the pool does, instead of spending the step's attempts.
                if conn is not None and self._conn is conn:
                    self._conn = None
                    with suppress(psycopg.Error):
                        await conn.close()
                if not wait_out_outage or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _connection(self) -> AsyncConnection[Any]:
        async with self._connecting:
            if self._conn is None or self._conn.closed:
                self._conn = await AsyncConnection.connect(self._uri, **self._kwargs)
            return self._conn

    async def close(self) -> None:
        for _conn, timer, _value in self._kept.values():
            timer.cancel()
        self._kept.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
