"""Workers' housekeeping: stream events and ended stateless runs past the stream retention,
threads and store items past their TTL, the thread counters' deltas folded.

Every worker runs it; the queries are safe to run from many at once (``SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore

from graphyard.config import Settings
from graphyard.graphs import ProjectConfig, ThreadTTLConfig
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import thread_counts, thread_ttl
from graphyard.storage.db import Pool

log = logging.getLogger(__name__)


async def prune_events(settings: Settings, pool: Pool) -> None:
    async with pool.connection() as conn:
        pruned = await event_log.prune(conn, settings.stream_retention)
        stateless = await run_rows.prune_stateless(conn, settings.stream_retention)
    if pruned or stateless:
        log.info(
            "pruned %d stream events and %d stateless runs older than %s",
            pruned,
            stateless,
            settings.stream_retention,
        )


async def fold_thread_counts(pool: Pool) -> None:
    async with pool.connection() as conn:
        await thread_counts.fold(conn)


async def sweep_threads(ttl: ThreadTTLConfig, pool: Pool) -> None:
    async with pool.connection() as conn:
        deleted, keep_latest = await thread_ttl.sweep(conn, ttl.sweep_limit)
    if keep_latest:
        await AsyncPostgresSaver(pool).aprune(keep_latest, strategy="keep_latest")
    if deleted or keep_latest:
        log.info(
            "threads past their TTL: %d deleted, %d pruned to their latest checkpoint",
            len(deleted),
            len(keep_latest),
        )


async def every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run ``job`` every ``seconds`` until cancelled; a failed run is logged and retried."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except psycopg.Error as exc:
            log.warning("%s failed (%s); will retry", getattr(job, "__name__", job), exc)


async def sweep_store(store: AsyncPostgresStore) -> None:
    deleted = await store.sweep_ttl()
    if deleted:
        log.info("deleted %d store items past their TTL", deleted)


def start(
    settings: Settings, project: ProjectConfig, pool: Pool, store: AsyncPostgresStore
) -> list[asyncio.Task[None]]:
    """The housekeeping tasks of one worker process."""
    ttl = project.checkpointer.ttl
    # Items may carry their own TTL (``ttl`` on put) whatever store.ttl says: always sweep.
    store_sweep = project.store.ttl.sweep_interval_minutes * 60
    return [
        asyncio.create_task(
            every(
                settings.stream_prune_interval.total_seconds(), lambda: prune_events(settings, pool)
            ),
            name="graphyard-prune-events",
        ),
        asyncio.create_task(
            every(settings.stream_prune_interval.total_seconds(), lambda: fold_thread_counts(pool)),
            name="graphyard-fold-thread-counts",
        ),
        asyncio.create_task(
            every(ttl.sweep_interval_minutes * 60, lambda: sweep_threads(ttl, pool)),
            name="graphyard-sweep-threads",
        ),
        asyncio.create_task(
            every(store_sweep, lambda: sweep_store(store)), name="graphyard-sweep-store"
        ),
    ]
