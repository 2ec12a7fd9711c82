"""The step's checkpoint saver: reads the latest checkpoint once, sends a step's task writes
with its checkpoint in one round trip, lets stream events reach Postgres before each durable
write, and masks the worker's secrets in the error writes of failed tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow

from graphyard import redaction
from graphyard.storage.db import Pool

# LangGraph's channel for a failed task's error (private in LangGraph 1.x: its value is stable).
ERROR = "__error__"


def _masked(channel: str, value: Any) -> Any:
    """A failed task's error as LangGraph stores it (its repr), with secrets masked."""
    if channel != ERROR or not isinstance(value, BaseException) or not redaction.has_secrets():
        return value
    text = repr(value)
    masked = redaction.mask(text)
    return value if masked == text else masked


class GuardedSaver(AsyncPostgresSaver):
    """Hands the guard's read of the thread's latest checkpoint to LangGraph once, so a step
    reads it from Postgres once, not twice; awaits ``before_write`` (the stream's flush) before
    each checkpoint or task write; and holds task writes back until the next checkpoint put,
    which sends them in its own pipeline: one round trip and one transaction for both.

    Task writes the step ends without a checkpoint for (an interrupt in a node, a failed task)
    are sent by ``write_pending``, which the step awaits before it returns or raises. A worker
    killed mid-step loses the writes it held back, with the step: the retry finds the thread
    at the same checkpoint and runs the whole super-step again, as it would have run the node
    in flight. Nothing is ever written twice or over a newer checkpoint: the step lock and the
    guard decide whether a step runs at all, and the writes are upserts keyed by checkpoint."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._primed: CheckpointTuple | None = None
        self.before_write: Callable[[], Awaitable[None]] | None = None
        # (statement, rows) of task writes not yet sent.
        self._held: list[tuple[str, list[tuple[Any, ...]]]] = []
        # Task writes still being serialized: a checkpoint put waits for them to be held, so
        # it takes the writes LangGraph handed over before it (both run as background tasks).
        self._holding = 0
        self._all_held = asyncio.Event()
        self._all_held.set()

    async def latest(self, config: RunnableConfig) -> CheckpointTuple | None:
        self._primed = await super().aget_tuple(config)
        return self._primed

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        primed, self._primed = self._primed, None
        if primed is not None and not get_checkpoint_id(config):
            return primed
        return await super().aget_tuple(config)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        if self.before_write is not None:
            await self.before_write()
        await self._all_held.wait()
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._holding += 1
        self._all_held.clear()
        try:
            await self._hold(config, writes, task_id, task_path)
        finally:
            self._holding -= 1
            if not self._holding:
                self._all_held.set()

    async def _hold(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        if self.before_write is not None:
            await self.before_write()
        writes = [(channel, _masked(channel, value)) for channel, value in writes]
        # As AsyncPostgresSaver.aput_writes does, but held back for the checkpoint's pipeline.
        query = (
            self.UPSERT_CHECKPOINT_WRITES_SQL
            if all(channel in WRITES_IDX_MAP for channel, _ in writes)
            else self.INSERT_CHECKPOINT_WRITES_SQL
        )
        configurable = config["configurable"]
        rows = await asyncio.to_thread(
            self._dump_writes,
            configurable["thread_id"],
            configurable["checkpoint_ns"],
            configurable["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        self._held.append((query, rows))

    async def write_pending(self) -> None:
        """Send the task writes no checkpoint put has taken yet."""
        if self._held:
            async with self._cursor(pipeline=True):
                pass

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        # Every write of AsyncPostgresSaver (the checkpoint's blobs and row) runs in a pipeline:
        # the held task writes go first in it, in the same round trip and transaction.
        async with super()._cursor(pipeline=pipeline) as cur:
            if pipeline and self._held:
                held, self._held = self._held, []
                for query, rows in held:
                    await cur.executemany(query, rows)
            yield cur
