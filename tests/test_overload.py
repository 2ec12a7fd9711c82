"""Overload without faults: more runs than the machine can step at once, two worker processes,
nothing killed. Every node must run exactly once (the design promises re-runs only after a
crash), even when a saturated worker answers its workflow tasks too late and Temporal hands a
run's local step to a replay while the first attempt still runs (step_lock.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from tests.graphs.counted import NODES
from tests.processes import worker_process
from tests.stack import Stack

pytestmark = pytest.mark.slow

RUNS = 300
CONCURRENCY = 50


async def _timed_out_workflow_tasks(stack: Stack) -> int:
    """Workflow tasks that timed out, over the histories of this test's runs."""
    query = f'TaskQueue = "{stack.settings.task_queue}" AND WorkflowType = "RunWorkflow"'
    count = 0
    async for execution in stack.temporal.list_workflows(query):
        handle = stack.temporal.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        count += sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        )
    return count


# A short workflow task timeout makes the window (a late answer to a workflow task while the
# run's step still runs) frequent on any machine; the default is 5 s.
@pytest.mark.parametrize(
    "settings", [{"workflow_task_timeout": timedelta(seconds=1)}], indirect=True
)
async def test_saturated_workers_run_every_node_exactly_once(api: Stack) -> None:
    client = api.client
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> str:
        async with gate:
            thread = await client.threads.create(thread_id=str(uuid.uuid4()))
            await client.runs.wait(thread["thread_id"], "counted", input={"steps": []})
            run = (await client.runs.list(thread["thread_id"]))[0]
            return str(run["status"])

    started = time.monotonic()
    with worker_process(api.settings), worker_process(api.settings):
        statuses = await asyncio.gather(*(one() for _ in range(RUNS)))
    elapsed = time.monotonic() - started
    executions = api.sql("SELECT thread_id, node, count(*) AS n FROM node_runs GROUP BY 1, 2")
    twice = [row for row in executions if row["n"] > 1]
    total = sum(row["n"] for row in executions)
    timed_out = await _timed_out_workflow_tasks(api)
    print(
        f"{RUNS} runs at concurrency {CONCURRENCY} in {elapsed:.1f} s, "
        f"{timed_out} workflow tasks timed out: {total} node executions for "
        f"{RUNS * len(NODES)} nodes, {len(twice)} (thread, node) pairs twice"
    )
    assert statuses == ["success"] * RUNS
    assert twice == []
    assert total == RUNS * len(NODES)
