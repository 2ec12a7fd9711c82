"""The step's saver (graphyard/activities/saver.py) on a real Postgres: a step's task writes
and stream events go with its checkpoint, and a step that starts from the checkpoint its
process wrote (no read) still writes nothing when the thread moved meanwhile."""

from __future__ import annotations

import asyncio
import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphyard.activities.publish import StepPublisher
from graphyard.activities.saver import GuardedSaver, ThreadMoved
from graphyard.storage.db import Pool, notify_channel, open_pool
from graphyard.types import RunRef
from tests.stack import Stack

pytestmark = pytest.mark.core


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def _graph(saver: AsyncPostgresSaver) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(State)
    builder.add_node("a", lambda state: {"steps": ["a"]})
    builder.add_node("b", lambda state: {"steps": ["b"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    return builder.compile(checkpointer=saver)


async def _step(saver: GuardedSaver, graph_input: Any, config: RunnableConfig) -> None:
    """One super-step, as the step activity runs it."""
    async for _ in _graph(saver).astream(
        graph_input, config, interrupt_after="*", durability="sync"
    ):
        pass
    await saver.write_pending()


async def _streamed_step(
    stack: Stack, pool: Pool, saver: GuardedSaver, graph_input: Any, config: RunnableConfig
) -> RunRef:
    """One super-step that streams its values, as the step activity runs it."""
    thread = config["configurable"]["thread_id"]
    run = RunRef(str(uuid.uuid4()), thread, str(uuid.uuid4()), "saver-test")
    publisher = StepPublisher(pool, notify_channel(stack.settings), run, 0, saver.quiet)
    async with publisher:
        saver.events = publisher.lend
        graph = _graph(saver)
        async for chunk in graph.astream(
            graph_input, config, interrupt_after="*", durability="sync", stream_mode="values"
        ):
            await publisher.emit("values", chunk)
        await saver.write_pending()
    return run


def _events(stack: Stack, run: RunRef) -> list[dict[str, Any]]:
    return stack.sql(
        "SELECT event, data, attempt, xmin::text AS tx FROM run_events WHERE run_id = %s "
        "ORDER BY seq",
        (run.run_id,),
    )


async def _moved_on(pool: Pool) -> tuple[RunnableConfig, GuardedSaver]:
    """A thread's first step, then an edit that moves the thread past it: a saver whose next
    step starts from the checkpoint the first wrote (no read), unaware of the edit."""
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    first = GuardedSaver(pool)
    await first.latest(config)
    await _step(first, {"steps": []}, config)
    known = first.written
    assert known is not None
    # The thread moves on meanwhile (here a human's edit).
    await _graph(AsyncPostgresSaver(pool)).aupdate_state(config, {"steps": ["edit"]})
    second = GuardedSaver(pool)
    await second.latest(config, known)
    return config, second


def _writes(stack: Stack, thread: str) -> int:
    rows = stack.sql("SELECT count(*) AS n FROM checkpoint_writes WHERE thread_id = %s", (thread,))
    return int(rows[0]["n"])


async def test_a_step_from_the_known_checkpoint_goes_on_as_one_that_read_it(api: Stack) -> None:
    pool = await open_pool(api.settings)
    try:
        thread = str(uuid.uuid4())
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        first = GuardedSaver(pool)
        await first.latest(config)
        await _step(first, {"steps": []}, config)
        known = first.written
        stored = await AsyncPostgresSaver(pool).aget_tuple(config)
        assert known is not None
        assert stored is not None
        assert known.config == stored.config
        assert known.checkpoint["channel_values"] == stored.checkpoint["channel_values"]
        assert known.metadata == stored.metadata
        # The tasks' writes (the input's and node a's) went with the checkpoints.
        assert _writes(api, thread) == 4

        second = GuardedSaver(pool)
        assert await second.latest(config, known) is known
        await _step(second, None, config)
        state = await _graph(AsyncPostgresSaver(pool)).aget_state(config)
        assert state.values == {"steps": ["a", "b"]}
        assert state.config["configurable"]["checkpoint_id"] == (
            second.written.config["configurable"]["checkpoint_id"] if second.written else None
        )
    finally:
        await pool.close()


async def test_a_step_from_the_known_checkpoint_writes_nothing_if_the_thread_moved(
    api: Stack,
) -> None:
    pool = await open_pool(api.settings)
    try:
        config, second = await _moved_on(pool)
        thread = config["configurable"]["thread_id"]
        moved = await AsyncPostgresSaver(pool).aget_tuple(config)
        assert moved is not None
        writes = _writes(api, thread)

        with pytest.raises(ThreadMoved):
            await _step(second, None, config)
        # Neither node b's writes nor a checkpoint over the newer one.
        latest = await AsyncPostgresSaver(pool).aget_tuple(config)
        assert latest is not None
        assert latest.config == moved.config
        assert _writes(api, thread) == writes
    finally:
        await pool.close()


async def test_a_task_done_beside_a_running_sibling_is_written_while_the_sibling_runs(
    api: Stack,
) -> None:
    """Writes wait for their checkpoint only briefly: a worker killed while a slow sibling
    still runs must not lose the finished task's writes (its retry would run that node again)."""
    release = asyncio.Event()

    async def slow(state: State) -> dict[str, list[str]]:
        await release.wait()
        return {"steps": ["slow"]}

    pool = await open_pool(api.settings)
    try:
        saver = GuardedSaver(pool)
        builder = StateGraph(State)
        builder.add_node("fast", lambda state: {"steps": ["fast"]})
        builder.add_node("slow", slow)
        builder.add_edge(START, "fast")
        builder.add_edge(START, "slow")
        graph = builder.compile(checkpointer=saver)
        thread = str(uuid.uuid4())
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        await saver.latest(config)

        async def step() -> None:
            async for _ in graph.astream({"steps": []}, config, durability="sync"):
                pass
            await saver.write_pending()

        running = asyncio.create_task(step())
        try:
            # The writes on the input's checkpoint, the parent of the step fast and slow run in.
            rows = await api.wait_rows(
                "SELECT task_id FROM checkpoint_writes w WHERE thread_id = %s AND channel = "
                "'steps' AND checkpoint_id = (SELECT max(checkpoint_id) FROM checkpoints "
                "WHERE thread_id = w.thread_id)",
                (thread,),
            )
            assert len(rows) == 1  # fast's; slow is still running
            assert not running.done()
        finally:
            release.set()
            await running
        state = await graph.aget_state(config)
        assert sorted(state.values["steps"]) == ["fast", "slow"]
    finally:
        await pool.close()


async def test_a_steps_events_go_in_the_transaction_of_the_checkpoint_after_them(
    api: Stack,
) -> None:
    """One round trip for a step's events and its checkpoint, not two; none is lost."""
    pool = await open_pool(api.settings)
    try:
        thread = str(uuid.uuid4())
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        saver = GuardedSaver(pool)
        await saver.latest(config)
        run = await _streamed_step(api, pool, saver, {"steps": []}, config)
        events = _events(api, run)
        assert [e["data"] for e in events] == ['{"steps":[]}', '{"steps":["a"]}']
        assert {e["attempt"] for e in events} == {1}
        checkpoints = api.sql(
            "SELECT xmin::text AS tx FROM checkpoints WHERE thread_id = %s", (thread,)
        )
        # Node a's values (streamed once its checkpoint is put) went with that checkpoint.
        assert events[1]["tx"] in {c["tx"] for c in checkpoints}
    finally:
        await pool.close()


async def test_a_steps_events_are_written_when_its_checkpoint_is_refused(api: Stack) -> None:
    """Events lent to a write that rolls back are given back and written, in order."""
    pool = await open_pool(api.settings)
    try:
        config, second = await _moved_on(pool)
        with pytest.raises(ThreadMoved):
            await _streamed_step(api, pool, second, None, config)
        events = api.sql(
            "SELECT data FROM run_events WHERE thread_id = %s ORDER BY seq",
            (config["configurable"]["thread_id"],),
        )
        # (A continuing call first re-streams the state it starts from; the step drops it.)
        assert [e["data"] for e in events] == ['{"steps":["a"]}', '{"steps":["a","b"]}']
    finally:
        await pool.close()
