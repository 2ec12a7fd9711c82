"""A busy thread's turns belong to its ``ThreadWorkflow`` alone: runs of a thread never overlap
and start in the order their rows were written, even when their starts reach Temporal in
another order (two API processes, each writing one run and starting it a moment later)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from graphyard.graphs import GraphRegistry
from graphyard.runs import start as run_start
from graphyard.runs.backends import Backends
from graphyard.runs.caller import ANONYMOUS
from graphyard.runs.request import RunCreate
from graphyard.runs.submit import _insert, run_id_for
from graphyard.storage.db import open_pool
from graphyard.types import WAIT_ACTIVITY, thread_workflow_id
from tests.stack import Stack
from tests.test_cancel import blocked_run

pytestmark = pytest.mark.core


@pytest.fixture
async def backends(stack: Stack, graphs: GraphRegistry) -> AsyncIterator[Backends]:
    """The run service as a second API process has it."""
    pool = await open_pool(stack.settings)
    try:
        yield Backends(stack.settings, pool, stack.temporal, graphs)
    finally:
        await pool.close()


async def write(backends: Backends, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Write a run's row as ``create_run`` does, without starting it."""
    async with backends.pool.connection() as conn, conn.transaction():
        inserted = await _insert(
            conn,
            backends,
            RunCreate(**body),
            run_id_for("test", None),
            thread_id,
            None,
            ANONYMOUS,
            {},
        )
    return inserted.row


def spans(stack: Stack, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        stack.sql(
            "SELECT status, started_at, ended_at FROM runs WHERE run_id = %s", (r["run_id"],)
        )[0]
        for r in rows
    ]


async def test_runs_whose_starts_arrive_swapped_run_in_creation_order(
    stack: Stack, backends: Backends
) -> None:
    tid, first = await blocked_run(stack, gate="c1")
    later = [await write(backends, tid, {"assistant_id": "chain", "input": {}}) for _ in range(2)]
    for row in reversed(later):  # the second's start overtakes the first's
        await run_start.start(backends, row, created=True)
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    for row in later:
        await stack.client.runs.join(tid, str(row["run_id"]))
    ran = spans(stack, [first, *later])
    assert [r["status"] for r in ran] == ["success"] * 3
    assert ran[0]["ended_at"] <= ran[1]["started_at"]
    assert ran[1]["ended_at"] <= ran[2]["started_at"]


async def test_a_run_handed_over_before_the_run_ahead_started_waits_for_it(
    stack: Stack, backends: Backends
) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    body = {"assistant_id": "counted", "input": {"steps": [], "gate": "c1"}}
    ahead = await write(backends, tid, body)  # found the thread idle: starts directly
    behind = await write(backends, tid, {"assistant_id": "chain", "input": {}})
    # The run behind reaches the thread's workflow before the run ahead reaches Temporal.
    await run_start.start(backends, behind, created=True)
    handle = stack.temporal.get_workflow_handle(thread_workflow_id(tid))
    await _until_waiting(handle)
    await run_start.start(backends, ahead, created=True)
    await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c1'", (tid,))
    assert spans(stack, [behind])[0]["status"] == "pending"
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    await stack.client.runs.join(tid, str(behind["run_id"]))
    ran = spans(stack, [ahead, behind])
    assert [r["status"] for r in ran] == ["success", "success"]
    assert ran[0]["ended_at"] <= ran[1]["started_at"]


async def _until_waiting(handle: Any) -> None:
    """Until the thread's workflow waits, by activity, for a run it did not start."""
    for _ in range(400):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
                event.activity_task_scheduled_event_attributes.activity_type.name == WAIT_ACTIVITY
            ):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the thread's workflow never waited")


@pytest.mark.parametrize("settings", [{"reconcile_after": timedelta(0)}], indirect=True)
async def test_reading_a_queued_run_adds_nothing_to_its_threads_history(stack: Stack) -> None:
    tid, _ = await blocked_run(stack, gate="c1")
    queued = await stack.client.runs.create(tid, "chain", input={})
    handle = stack.temporal.get_workflow_handle(thread_workflow_id(tid))
    before = await _signals(handle)
    for _ in range(5):  # each read checks the run against Temporal
        assert (await stack.client.runs.get(tid, queued["run_id"]))["status"] == "pending"
    assert await _signals(handle) == before == 1
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    assert (await stack.client.runs.join(tid, queued["run_id"]))["steps"][-1] == "node_9"


async def _signals(handle: Any) -> int:
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    return kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
