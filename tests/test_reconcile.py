"""No zombies: a run's status follows its workflow after what no workflow code sees — the
workflow terminated by hand, lost from Temporal, or its thread's workflow terminated with the
run still queued in it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from graphyard.graphs import GraphRegistry
from graphyard.types import run_workflow_id, thread_workflow_id
from graphyard.worker import running_worker
from tests.stack import Stack
from tests.test_cancel import blocked_run

# Rows are checked against their workflow on every read; waits re-check every 0.2 s.
QUICK = {"reconcile_after": timedelta(0), "wait_keepalive_seconds": 0.2}


async def described(
    handle: WorkflowHandle[Any, Any], *, exists: bool = True
) -> WorkflowExecutionDescription | None:
    """The workflow's description once it exists (or ``None`` once it does not)."""
    for _ in range(400):
        try:
            found = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            found = None
        if (found is not None) == exists:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} still {'missing' if exists else 'there'}")


@pytest.mark.parametrize("settings", [QUICK], indirect=True)
async def test_a_workflow_terminated_by_hand_ends_its_run(stack: Stack) -> None:
    tid, run = await blocked_run(stack)
    run_id = run["run_id"]
    joining = asyncio.create_task(stack.client.runs.join(tid, run_id))
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    await handle.terminate(reason="stuck, by hand")
    error = {
        "error": "WorkflowTerminated",
        "message": "the run's workflow closed in Temporal: stuck, by hand",
    }
    # The join that was waiting when it happened returns the error.
    assert await asyncio.wait_for(joining, timeout=10) == {"__error__": error}
    assert (await stack.client.runs.get(tid, run_id))["status"] == "error"
    assert (await stack.client.threads.get(tid))["status"] == "error"
    events = [e async for e in stack.client.runs.join_stream(tid, run_id)]
    assert [e.data for e in events if e.event == "error"] == [error]
    # A dead letter like any other: listed, and it can run again.
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    dead = await stack.client.http.get("/runs/dead", params={"limit": 100})
    assert run_id in [r["run_id"] for r in dead]
    await stack.client.http.post(f"/runs/{run_id}/retry", json=None)
    assert (await stack.client.runs.join(tid, run_id))["steps"][-1] == "c4"
    assert (await stack.client.runs.get(tid, run_id))["status"] == "success"


@pytest.mark.parametrize("settings", [QUICK], indirect=True)
async def test_a_run_whose_workflow_was_lost_is_started_again(
    api: Stack, graphs: GraphRegistry
) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    run = await api.client.runs.create(tid, "chain", input={"steps": []})
    # No worker yet: the run's workflow has not started. It vanishes from Temporal (as if the
    # API had died before starting it).
    await api.temporal.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=api.temporal.namespace,
            workflow_execution={"workflow_id": run_workflow_id(run["run_id"])},
        )
    )
    handle = api.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
    assert await described(handle, exists=False) is None  # deletion is asynchronous
    async with running_worker(api.settings, api.temporal, graphs):
        result = await asyncio.wait_for(api.client.runs.join(tid, run["run_id"]), timeout=20)
    assert result["steps"][-1] == "node_9"
    assert (await api.client.runs.get(tid, run["run_id"]))["status"] == "success"


@pytest.mark.parametrize("settings", [QUICK], indirect=True)
async def test_runs_queued_in_a_terminated_thread_workflow_go_on(stack: Stack) -> None:
    tid, first = await blocked_run(stack, gate="c1")
    queued = [await stack.client.runs.create(tid, "chain", input={"steps": []}) for _ in range(2)]
    thread_handle = stack.temporal.get_workflow_handle(thread_workflow_id(tid))
    # Both wait in the thread's workflow for their turn; their own workflows start then.
    holding = await described(thread_handle)
    assert holding is not None
    for run in queued:
        handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
        assert await described(handle, exists=False) is None
    await thread_handle.terminate(reason="by hand")
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    for run in (first, *queued):
        await asyncio.wait_for(stack.client.runs.join(tid, run["run_id"]), timeout=20)
    statuses = [(await stack.client.runs.get(tid, r["run_id"]))["status"] for r in queued]
    assert statuses == ["success", "success"]
    # The terminated workflow stays so; a new one took the thread's runs over.
    terminated = stack.temporal.get_workflow_handle(thread_workflow_id(tid), run_id=holding.run_id)
    assert (await terminated.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert (await thread_handle.describe()).run_id != holding.run_id
