"""The step's checkpoint saver: reads the latest checkpoint once, lets stream events reach
Postgres before each durable write, and masks the worker's secrets in the error writes of
failed tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

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
    reads it from Postgres once, not twice; and awaits ``before_write`` (the stream's flush)
    before each checkpoint or task write."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._primed: CheckpointTuple | None = None
        self.before_write: Callable[[], Awaitable[None]] | None = None

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
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if self.before_write is not None:
            await self.before_write()
        writes = [(channel, _masked(channel, value)) for channel, value in writes]
        await super().aput_writes(config, writes, task_id, task_path)
