"""Thread counts kept by triggers (graphyard/storage/thread_counts.py): exact through inserts,
status changes, deletes and bulk COPY, with writers and folds running at once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import pytest

from graphyard.config import Settings
from graphyard.storage import thread_counts
from graphyard.storage.db import open_pool
from graphyard.storage.migrate import migrate

pytestmark = pytest.mark.core

STATUSES = ("idle", "busy", "interrupted", "error")


async def test_counts_match_the_threads_through_concurrent_writes_and_folds(
    settings: Settings,
) -> None:
    await migrate(settings)
    pool = await open_pool(settings)
    try:
        # Threads there before the counters' first fold, written in bulk.
        copying = "COPY threads (thread_id, status) FROM STDIN"
        async with pool.connection() as conn, conn.cursor().copy(copying) as copy:
            for i in range(500):
                await copy.write_row((str(uuid.uuid4()), STATUSES[i % 4]))

        async def writer(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(60):
                async with pool.connection() as conn:
                    action = rng.random()
                    if action < 0.4:
                        await conn.execute(
                            "INSERT INTO threads (thread_id, status) VALUES (%s, %s)",
                            (str(uuid.uuid4()), rng.choice(STATUSES)),
                        )
                    elif action < 0.8:
                        # Several rows in one statement, some keeping their status.
                        await conn.execute(
                            "UPDATE threads SET status = %s WHERE thread_id IN "
                            "(SELECT thread_id FROM threads ORDER BY random() LIMIT 5)",
                            (rng.choice(STATUSES),),
                        )
                    else:
                        await conn.execute(
                            "DELETE FROM threads WHERE thread_id IN "
                            "(SELECT thread_id FROM threads ORDER BY random() LIMIT 3)"
                        )

        async def folder() -> None:
            for _ in range(20):
                async with pool.connection() as conn:
                    await thread_counts.fold(conn)

        await asyncio.gather(*(writer(i) for i in range(4)), folder(), folder())

        async with pool.connection() as conn:
            cur = await conn.execute("SELECT status FROM threads")
            actual = Counter(row["status"] for row in await cur.fetchall())
            for fold in (False, True):
                if fold:
                    await thread_counts.fold(conn)
                assert await thread_counts.total(conn) == sum(actual.values())
                for status in (*STATUSES, "nonesuch"):
                    assert await thread_counts.total(conn, status) == actual[status]
            cur = await conn.execute("SELECT count(*) AS n FROM thread_counts")
            assert (await cur.fetchone() or {})["n"] == len(actual)  # one row per status
    finally:
        await pool.close()
