"""The per-thread step lock (graphyard/activities/step_lock.py) on a real Postgres: one holder
per thread across processes and within one, given back when a waiter or holder is cancelled,
freed when a holder's connection dies."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import psycopg
import pytest

from graphyard.activities.step_lock import StepLocks
from graphyard.config import Settings


def _advisory_locks(settings: Settings) -> int:
    with psycopg.connect(settings.database_uri, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        return int(row[0]) if row else 0


async def _enters(locks: StepLocks, thread: str, timeout: float) -> bool:
    """Whether ``locks`` takes the thread's lock within ``timeout`` seconds (and gives it back)."""

    async def take() -> None:
        async with locks.hold(thread, "g"):
            pass

    try:
        await asyncio.wait_for(take(), timeout)
    except TimeoutError:
        return False
    return True


@pytest.fixture
async def two_workers(settings: Settings) -> contextlib.AsyncExitStack:
    async with contextlib.AsyncExitStack() as stack:
        first, second = StepLocks(settings), StepLocks(settings)
        stack.push_async_callback(first.close)
        stack.push_async_callback(second.close)
        yield first, second  # type: ignore[misc]


async def test_one_holder_per_thread_across_workers(
    two_workers: tuple[StepLocks, StepLocks],
) -> None:
    first, second = two_workers
    thread, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with first.hold(thread, "g"):
        assert not await _enters(second, thread, 0.5)
        assert await _enters(second, other, 2)
    assert await _enters(second, thread, 2)


async def test_one_holder_per_thread_within_a_worker(settings: Settings) -> None:
    locks = StepLocks(settings)
    thread = str(uuid.uuid4())
    try:
        async with locks.hold(thread, "g"):
            # The same session could take its own advisory lock again: the process must not.
            assert not await _enters(locks, thread, 0.5)
        assert await _enters(locks, thread, 2)
    finally:
        await locks.close()


async def test_cancelled_waiters_and_holders_give_the_lock_back(
    settings: Settings, two_workers: tuple[StepLocks, StepLocks]
) -> None:
    first, second = two_workers
    thread = str(uuid.uuid4())
    before = _advisory_locks(settings)
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with first.hold(thread, "g"):
            entered.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    waiters = [asyncio.create_task(_enters(second, thread, 30)) for _ in range(5)]
    await asyncio.sleep(0.3)  # let them poll the taken lock a few times
    for waiter in waiters:
        waiter.cancel()
    holder.cancel()
    await asyncio.gather(holder, *waiters, return_exceptions=True)
    assert await _enters(second, thread, 2)
    for _ in range(100):  # the shielded releases finish in the background
        if _advisory_locks(settings) == before:
            break
        await asyncio.sleep(0.02)
    assert _advisory_locks(settings) == before


async def test_a_dead_holder_frees_the_lock(
    settings: Settings, two_workers: tuple[StepLocks, StepLocks]
) -> None:
    first, second = two_workers
    thread = str(uuid.uuid4())
    async with first.hold(thread, "g"):
        assert not await _enters(second, thread, 0.3)
        # The holder's worker dies: Postgres ends its session, and its locks with it.
        pid = first._conn.info.backend_pid if first._conn else None
        assert pid is not None
        with psycopg.connect(settings.database_uri, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await _enters(second, thread, 5)
    # The dead session's worker goes on: its next step reconnects instead of failing.
    assert await _enters(first, str(uuid.uuid4()), 5)


async def test_a_kept_lock_waits_for_its_threads_next_step_then_goes_back(
    settings: Settings, two_workers: tuple[StepLocks, StepLocks]
) -> None:
    first, second = two_workers
    thread = str(uuid.uuid4())
    before = _advisory_locks(settings)
    async with first.hold(thread, "g") as held:
        held.keep()
    # Kept for the thread's next step in this process: nobody else enters meanwhile.
    assert not await _enters(second, thread, 0.2)
    async with first.hold(thread, "g") as held:
        held.keep()
    # No next step came: the kept lock goes back on its own, with one unlock (had the session
    # taken it again instead of reusing the kept one, it would still hold it once).
    assert await _enters(second, thread, 5)
    for _ in range(100):
        if _advisory_locks(settings) == before:
            break
        await asyncio.sleep(0.02)
    assert _advisory_locks(settings) == before


async def test_a_lock_kept_on_a_lost_connection_is_taken_again(
    settings: Settings, two_workers: tuple[StepLocks, StepLocks]
) -> None:
    first, second = two_workers
    thread = str(uuid.uuid4())
    async with first.hold(thread, "g") as held:
        held.keep()
    pid = first._conn.info.backend_pid if first._conn else None
    assert pid is not None
    with psycopg.connect(settings.database_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # The worker learns of the loss on its next query (another thread's step).
    assert await _enters(first, str(uuid.uuid4()), 5)
    async with first.hold(thread, "g"):
        assert not await _enters(second, thread, 0.3)
    assert await _enters(second, thread, 5)
