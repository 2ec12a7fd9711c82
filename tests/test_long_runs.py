"""Long runs: a graph of 5,000 super-steps completes, its run continuing as new so that no
history grows past a bound; a busy thread's workflow continues as new between runs."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from graphyard.types import run_workflow_id, thread_workflow_id
from tests.stack import Stack

pytestmark = pytest.mark.slow

STEPS = 5000
PER_HISTORY = 1000


async def histories(stack: Stack, workflow_id: str) -> list[int]:
    """The event count of each history in the workflow's continue-as-new chain, oldest first."""
    counts = []
    async for execution in stack.temporal.list_workflows(f'WorkflowId = "{workflow_id}"'):
        handle = stack.temporal.get_workflow_handle(workflow_id, run_id=execution.run_id)
        history = await handle.fetch_history()
        counts.append((execution.start_time, len(history.events)))
    return [n for _, n in sorted(counts)]


@pytest.mark.parametrize(
    "settings", [{"step_activity": "local", "run_steps_per_history": PER_HISTORY}], indirect=True
)
async def test_five_thousand_super_steps_in_bounded_histories(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    started = time.monotonic()
    result = await stack.client.runs.wait(
        tid,
        "looping",
        input={"n": 0, "until": STEPS},
        config={"recursion_limit": STEPS + 1},
    )
    elapsed = time.monotonic() - started
    assert result == {"n": STEPS, "until": STEPS}
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "success"
    workflow_id = run_workflow_id(run["run_id"])
    counts = await histories(stack, workflow_id)
    assert len(counts) == math.ceil(STEPS / PER_HISTORY)
    per_step = sum(counts) / STEPS
    # The bound: steps_per_history super-steps, a few events each, plus a handful per history.
    assert max(counts) <= PER_HISTORY * 3 + 20
    print(
        f"\n{STEPS} super-steps in {elapsed:.1f} s ({elapsed / STEPS * 1000:.1f} ms/step); "
        f"{len(counts)} histories of {counts} events: {per_step:.2f} events per super-step"
    )


@pytest.mark.parametrize(
    "settings", [{"step_activity": "local", "thread_runs_per_history": 2}], indirect=True
)
async def test_the_thread_workflow_continues_as_new_between_runs(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    first = await stack.client.runs.create(tid, "counted", input={"steps": [], "gate": "c1"})
    queued = [await stack.client.runs.create(tid, "chain", input={"steps": []}) for _ in range(2)]
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    for run in (first, *queued):
        await stack.client.runs.join(tid, run["run_id"])
    # Two runs went through the thread's workflow: once they ended it continued as new, and
    # its next history takes the next run.
    for _ in range(400):
        closed = [
            e.status
            async for e in stack.temporal.list_workflows(
                f'WorkflowId = "{thread_workflow_id(tid)}" AND ExecutionStatus = "ContinuedAsNew"'
            )
        ]
        if closed:
            break
        await asyncio.sleep(0.05)
    stack.sql("DELETE FROM gates WHERE thread_id = %s", (tid,))
    later = [await stack.client.runs.create(tid, "counted", input={"steps": [], "gate": "c1"})]
    later += [await stack.client.runs.create(tid, "chain", input={"steps": []})]
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    for run in later:
        await stack.client.runs.join(tid, run["run_id"])
    statuses = [(await stack.client.runs.get(tid, r["run_id"]))["status"] for r in queued + later]
    assert statuses == ["success"] * 4
    runs = [
        execution
        async for execution in stack.temporal.list_workflows(
            f'WorkflowId = "{thread_workflow_id(tid)}"'
        )
    ]
    assert WorkflowExecutionStatus.CONTINUED_AS_NEW in {r.status for r in runs}
    handle = stack.temporal.get_workflow_handle(thread_workflow_id(tid))
    started = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    assert started == [run_workflow_id(later[1]["run_id"])]
