"""The step's checkpoint saver: reads the latest checkpoint once (or not at all when this
process wrote it), sends a step's checkpoint, its task writes and the stream events that
followed them in one round trip, and masks the worker's secrets in the error writes of failed
tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncCursor, errors
from psycopg.rows import DictRow

from graphyard import redaction
from graphyard.storage.db import Pool

# LangGraph's channel for a failed task's error (private in LangGraph 1.x: its value is stable).
ERROR = "__error__"

log = logging.getLogger(__name__)

# How long a write (a task's, a checkpoint) is held back for the writes and stream events that
# follow it. A step's own end follows within milliseconds (one round trip for all); a task that
# finished beside a sibling still running is sent on its own, so a worker killed meanwhile
# does not lose it and the retry runs only the unfinished nodes.
_HOLD_SECONDS = 0.05

# Fails (division by zero) unless the thread's latest checkpoint is still the given one: the
# guard, checked in the pipeline of a step's first write when the step did not read it.
_STILL_AT = """
    SELECT 1 / (coalesce((
        SELECT checkpoint_id FROM checkpoints
        WHERE thread_id = %s AND checkpoint_ns = ''
        ORDER BY checkpoint_id DESC LIMIT 1
    ), '') = %s)::int
"""


# Queues a write of the stream's pending events on a pipeline's cursor.
QueueEvents = Callable[[AsyncCursor[Any]], Awaitable[None]]


@asynccontextmanager
async def _no_events() -> AsyncIterator[QueueEvents]:
    async def queue(cur: AsyncCursor[Any]) -> None:
        pass

    yield queue


class _Recorder:
    """A pipeline cursor that holds the statements for the owner's next pipeline instead of
    sending them (AsyncPostgresSaver's writes fetch nothing)."""

    def __init__(self, owner: GuardedSaver) -> None:
        self._owner = owner

    async def execute(self, query: str, params: Any) -> None:
        # The owner's list at this moment: a pipeline may have taken the previous one.
        self._owner._held.append((query, [params]))

    async def executemany(self, query: str, params_seq: Any) -> None:
        self._owner._held.append((query, list(params_seq)))


class _HeldSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver's own checkpoint put, its statements held by ``GuardedSaver``."""

    def __init__(self, owner: GuardedSaver) -> None:
        super().__init__(owner.conn, serde=owner.serde)
        self._owner = owner

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        assert pipeline, "a held checkpoint put only writes"
        yield _Recorder(self._owner)


class ThreadMoved(RuntimeError):
    """The thread moved past the checkpoint the step started from: nothing was written."""


def _masked(channel: str, value: Any) -> Any:
    """A failed task's error as LangGraph stores it (its repr), with secrets masked."""
    if channel != ERROR or not isinstance(value, BaseException) or not redaction.has_secrets():
        return value
    text = repr(value)
    masked = redaction.mask(text)
    return value if masked == text else masked


class GuardedSaver(AsyncPostgresSaver):
    """Hands the guard's read of the thread's latest checkpoint to LangGraph once, so a step
    reads it from Postgres once, not twice; holds task writes and checkpoints (but the input's)
    back, for ``_HOLD_SECONDS`` at most, and sends them in one pipeline with ``events`` (the
    stream's events not yet written, which LangGraph hands over only once the super-step's
    checkpoint put has returned): one round trip and one transaction per super-step, and no
    event reaches Postgres after a write that followed it.

    ``write_pending``, which the step awaits before it returns or raises, sends what is still
    held; a read sends it first, so it sees what the step wrote. Nothing
    is ever written twice or over a newer checkpoint: the step lock and the guard decide
    whether a step runs at all, and the writes are upserts keyed by checkpoint."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._primed: CheckpointTuple | None = None
        # The stream's events not yet written (the step's publisher lends them).
        self.events: Callable[[], AbstractAsyncContextManager[QueueEvents]] = _no_events
        # (statement, rows) of task writes and checkpoints not yet sent, in order.
        self._held: list[tuple[str, list[Any]]] = []
        # Task writes still being serialized: a checkpoint put waits for them to be held, so
        # it takes the writes LangGraph handed over before it (both run as background tasks).
        self._holding = 0
        self._all_held = asyncio.Event()
        self._all_held.set()
        self._send_timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._putting = 0
        self._recording: _HeldSaver | None = None
        # Set while nothing is held or on its way to be (task writes, a checkpoint put): the
        # stream's writer waits for it a moment, so its events go in the held writes' pipeline.
        self.quiet = asyncio.Event()
        self.quiet.set()
        # (thread, checkpoint) the step's first write checks the thread is still at.
        self._expect: tuple[str, str] | None = None
        self._moved = False
        self.written: CheckpointTuple | None = None

    async def latest(
        self, config: RunnableConfig, known: CheckpointTuple | None = None
    ) -> CheckpointTuple | None:
        """The thread's latest checkpoint. ``known``: the one this process's previous step of
        the thread wrote (the step lock held since): no read; the step's first write then
        checks, in its own round trip, that the thread is still there, and fails with
        ``ThreadMoved`` (writing nothing) if not."""
        if known is not None:
            self._primed = known
            self._expect = (config["configurable"]["thread_id"], _checkpoint_id(known))
            return known
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
        self._putting += 1
        self._settle()
        try:
            await self._all_held.wait()
            if metadata.get("source") == "input":
                # Sent now: the first node runs next, maybe for long, and the stream's events
                # (its tokens) must not wait for its end.
                saved = await super().aput(config, checkpoint, metadata, new_versions)
            else:
                # LangGraph streams a super-step's values and updates only once this returns:
                # held back, the checkpoint goes with them (and with the step's task writes).
                if self._recording is None:
                    self._recording = _HeldSaver(self)
                saved = await self._recording.aput(config, checkpoint, metadata, new_versions)
                self._arm()
        finally:
            self._putting -= 1
            self._settle()
        if not config["configurable"].get("checkpoint_ns"):
            self.written = _tuple(config, saved, checkpoint, metadata)
        return saved

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._holding += 1
        self._all_held.clear()
        self._settle()
        try:
            await self._hold(config, writes, task_id, task_path)
        finally:
            self._holding -= 1
            if not self._holding:
                self._all_held.set()
            self._settle()

    def _settle(self) -> None:
        if self._holding or self._putting or self._held:
            self.quiet.clear()
        else:
            self.quiet.set()

    async def _hold(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        writes = [(channel, _masked(channel, value)) for channel, value in writes]
        # As AsyncPostgresSaver.aput_writes does, but held back for the checkpoint's pipeline.
        query = (
            self.UPSERT_CHECKPOINT_WRITES_SQL
            if all(channel in WRITES_IDX_MAP for channel, _ in writes)
            else self.INSERT_CHECKPOINT_WRITES_SQL
        )
        configurable = config["configurable"]
        if self.written is not None and configurable["checkpoint_id"] == _checkpoint_id(
            self.written
        ):
            self.written = None  # the next step reads these writes with it from Postgres
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
        self._arm()

    def _arm(self) -> None:
        if self._send_timer is None:
            self._send_timer = asyncio.get_running_loop().call_later(
                _HOLD_SECONDS, self._send_in_background
            )

    async def write_pending(self) -> None:
        """Send the checkpoints and task writes held back, with the stream's events (and wait
        for those on their way)."""
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await self._send()

    async def _send(self) -> None:
        if self._held and not self._moved:
            async with self._cursor(pipeline=True):
                pass

    def _send_in_background(self) -> None:
        self._send_timer = None
        task = asyncio.ensure_future(self._send_logged())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_logged(self) -> None:
        try:
            await self._send()
        except Exception as exc:
            # The writes stay held: the checkpoint's pipeline (or write_pending) sends them.
            log.warning("task writes held for the checkpoint: %s", exc)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        # Every write of AsyncPostgresSaver runs in a pipeline: the stream's events, the guard
        # and the held writes go first in it, in the same round trip and transaction.
        if not pipeline and self._held and not self._moved:
            await self._send()  # a read sees what this step wrote
        if pipeline and self._moved:
            raise ThreadMoved("the thread moved past the checkpoint this step started from")
        expect = self._expect if pipeline else None
        if expect is not None:
            self._expect = None
        held: list[tuple[str, list[Any]]] = []
        lend = self.events if pipeline else _no_events
        try:
            # The events' lend ends after the pipeline's transaction (it gives them back if
            # that fails, and no later event may commit before them).
            async with lend() as queue_events, super()._cursor(pipeline=pipeline) as cur:
                await queue_events(cur)
                if expect is not None:
                    await cur.execute(_STILL_AT, expect)
                if pipeline and self._held:
                    held, self._held = self._held, []
                    for query, rows in held:
                        await cur.executemany(query, rows)
                yield cur
        except errors.DivisionByZero as exc:
            if expect is None:
                raise
            # The pipeline's transaction rolled back whole: nothing of this step was written.
            self._moved, self._held, self.written = True, [], None
            raise ThreadMoved(
                f"thread {expect[0]} moved past checkpoint {expect[1]} while this step ran"
            ) from exc
        except BaseException:
            # Rolled back: what this pipeline took goes with the next one, checked as it was.
            self._held = held + self._held
            if expect is not None and self._expect is None:
                self._expect = expect
            raise
        finally:
            self._settle()


def _checkpoint_id(saved: CheckpointTuple) -> str:
    return str(saved.config["configurable"]["checkpoint_id"])


def _tuple(
    config: RunnableConfig,
    saved: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
) -> CheckpointTuple | None:
    """The checkpoint just written, as reading it back would give it; None when only a read
    can rebuild it (a delta channel's history)."""
    if any(isinstance(v, _DeltaSnapshot) for v in checkpoint["channel_values"].values()):
        return None
    configurable = config["configurable"]
    parent = configurable.get("checkpoint_id")
    parent_config: RunnableConfig | None = None
    if parent:
        parent_config = {
            "configurable": {
                "thread_id": configurable["thread_id"],
                "checkpoint_ns": "",
                "checkpoint_id": parent,
            }
        }
    return CheckpointTuple(
        config=saved,
        checkpoint=checkpoint,
        metadata=get_serializable_checkpoint_metadata(config, metadata),
        parent_config=parent_config,
        pending_writes=[],
    )
