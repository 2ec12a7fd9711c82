"""The notification listener (graphyard/storage/listener.py) on a real Postgres: a key wakes its
subscribers only, a lost connection wakes everyone and is listened on again, and an idle
listener does not wake its process."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from graphyard.config import Settings
from graphyard.storage.db import notify_channel
from graphyard.storage.listener import Listener

pytestmark = pytest.mark.core


def _notify(settings: Settings, payload: str) -> None:
    with psycopg.connect(settings.database_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (notify_channel(settings), payload))


def _listening_backends(settings: Settings) -> list[int]:
    with psycopg.connect(settings.database_uri, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE query = %s",
            (f'LISTEN "{notify_channel(settings)}"',),
        ).fetchall()
    return [pid for (pid,) in rows]


async def test_a_key_wakes_its_subscribers_only(settings: Settings) -> None:
    listener = Listener(settings, "test-listener")
    await listener.start()
    try:
        with listener.subscribe("a") as a, listener.subscribe("b") as b:
            await asyncio.to_thread(_notify, settings, "x a")
            await asyncio.wait_for(a.wait(), timeout=5)
            # Notifications arrive in order: once "b" is heard, "a"'s batch is long processed.
            await asyncio.to_thread(_notify, settings, "b")
            await asyncio.wait_for(b.wait(), timeout=5)
            a.clear()
            await asyncio.to_thread(_notify, settings, "b")
            b.clear()
            await asyncio.to_thread(_notify, settings, "b")
            await asyncio.wait_for(b.wait(), timeout=5)
            assert not a.is_set()
    finally:
        await listener.stop()


async def test_a_lost_connection_wakes_everyone_and_listens_again(settings: Settings) -> None:
    listener = Listener(settings, "test-listener")
    await listener.start()
    try:
        with listener.subscribe("a") as a:
            (pid,) = await asyncio.to_thread(_listening_backends, settings)
            await asyncio.to_thread(_terminate, settings, pid)
            await asyncio.wait_for(a.wait(), timeout=10)  # notifications may have been lost
            a.clear()
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(_listening_backends, settings) in ([], [pid]):
                assert time.monotonic() < deadline, "the listener never listened again"
            await asyncio.to_thread(_notify, settings, "a")
            await asyncio.wait_for(a.wait(), timeout=5)
    finally:
        await listener.stop()


async def test_a_lost_connection_leaves_nothing_registered_on_the_loop(settings: Settings) -> None:
    """A descriptor left in the loop's selector after its connection dropped breaks the next
    connection that gets the same number (its wait cannot be registered). Run on a loop of
    its own, where only the listener registers anything."""
    before, after = await asyncio.to_thread(asyncio.run, _registered_around_a_loss(settings))
    assert after == before


async def _registered_around_a_loss(settings: Settings) -> tuple[set[int], set[int]]:
    loop = asyncio.get_running_loop()

    def registered() -> set[int]:
        return set(loop._selector.get_map())  # type: ignore[attr-defined]

    before = registered()
    listener = Listener(settings, "test-listener")
    await listener.start()
    try:
        with listener.subscribe("a") as a:
            (pid,) = await asyncio.to_thread(_listening_backends, settings)
            await asyncio.to_thread(_terminate, settings, pid)
            await asyncio.wait_for(a.wait(), timeout=10)
    finally:
        await listener.stop()
    return before, registered()


def _terminate(settings: Settings, pid: int) -> None:
    with psycopg.connect(settings.database_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_an_idle_listener_costs_its_process_almost_nothing(settings: Settings) -> None:
    """psycopg's ``notifies()`` re-arms its wait ten times a second; the listener waits on the
    socket, so an idle process stays asleep. Counted on an event loop of its own (in a thread),
    where nothing but the listener runs."""
    wakeups = await asyncio.to_thread(asyncio.run, _idle_wakeups(settings, seconds=2))
    # Ten a second would be 20; the sleep itself is one or two.
    assert wakeups < 5, wakeups


async def _idle_wakeups(settings: Settings, *, seconds: float) -> int:
    """How often this loop's selector returns in ``seconds`` while a listener idles on it."""
    listener = Listener(settings, "test-listener")
    await listener.start()
    try:
        loop = asyncio.get_running_loop()
        wakeups = 0
        original = loop._selector.select  # type: ignore[attr-defined]

        def counted(timeout: float | None = None) -> object:
            nonlocal wakeups
            wakeups += 1
            return original(timeout)

        loop._selector.select = counted  # type: ignore[attr-defined]
        try:
            await asyncio.sleep(seconds)  # the measured interval itself, not a synchronization
        finally:
            loop._selector.select = original  # type: ignore[attr-defined]
        return wakeups
    finally:
        await listener.stop()
