"""Cancel (interrupt, rollback, wait, bulk) and delete of runs; the workflow stops cleanly."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError
from temporalio.api.enums.v1 import EventType

from graphyard.graphs import GraphRegistry
from graphyard.types import run_workflow_id, thread_workflow_id
from graphyard.worker import running_worker
from tests.stack import Stack

pytestmark = pytest.mark.core


async def blocked_run(stack: Stack, gate: str = "c2") -> tuple[str, dict[str, Any]]:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(tid, "counted", input={"steps": [], "gate": gate})
    await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s AND node = %s", (tid, gate))
    return tid, run


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_cancel_interrupt_keeps_checkpoints(stack: Stack) -> None:
    tid, run = await blocked_run(stack)
    result = await stack.client.runs.cancel(tid, run["run_id"], wait=True)
    assert result == {}
    assert (await stack.client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    state = await stack.client.threads.get_state(tid)
    assert state["values"]["steps"] == ["c0", "c1"]  # finished steps are kept
    assert state["next"] == ["c2"]
    assert (await stack.client.threads.get(tid))["status"] in ("idle", "interrupted")
    with pytest.raises(NotFoundError):
        await stack.client.runs.cancel(tid, run["run_id"])


async def test_cancel_rollback_deletes_run_and_checkpoints(stack: Stack) -> None:
    tid, run = await blocked_run(stack)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        accepted = await http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel?action=rollback")
        assert accepted.status_code == 202
    await stack.client.runs.join(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await stack.client.runs.get(tid, run["run_id"])
    rows = stack.sql("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (tid,))
    assert rows[0]["n"] == 0
    assert (await stack.client.threads.get(tid))["status"] == "idle"


async def test_bulk_cancel_and_delete(stack: Stack) -> None:
    tid, run = await blocked_run(stack)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        bad = await http.post("/runs/cancel", json={"status": "all", "thread_id": tid})
        assert bad.status_code == 422
        done = await http.post("/runs/cancel", json={"thread_id": tid, "run_ids": [run["run_id"]]})
        assert done.status_code == 204
    await stack.client.runs.join(tid, run["run_id"])
    assert (await stack.client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    async with httpx.AsyncClient(base_url=stack.url) as http:
        nothing = await http.post(
            "/runs/cancel", json={"thread_id": tid, "run_ids": [run["run_id"]]}
        )
        assert nothing.status_code == 404
    await stack.client.runs.delete(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await stack.client.runs.get(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await stack.client.runs.delete(tid, run["run_id"])


async def test_runs_of_a_thread_never_overlap(stack: Stack) -> None:
    tid, first = await blocked_run(stack, gate="c1")
    second = await stack.client.runs.create(tid, "counted", input={"steps": []})
    async with httpx.AsyncClient(base_url=stack.url) as http:
        rejected = await http.post(
            f"/threads/{tid}/runs",
            json={"assistant_id": "counted", "input": {}, "multitask_strategy": "reject"},
        )
    assert rejected.status_code == 409
    assert rejected.json()["detail"].startswith("Thread is already running a task.")
    assert (await stack.client.runs.get(tid, second["run_id"]))["status"] == "pending"
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    await stack.client.runs.join(tid, second["run_id"])
    first_row, second_row = (
        stack.sql("SELECT started_at, ended_at FROM runs WHERE run_id = %s", (r["run_id"],))[0]
        for r in (first, second)
    )
    assert first_row["ended_at"] <= second_row["started_at"]  # enqueued, not interleaved
    nodes = stack.sql("SELECT node FROM node_runs WHERE thread_id = %s ORDER BY at", (tid,))
    assert [r["node"] for r in nodes] == ["c0", "c1", "c2", "c3", "c4"] * 2


async def test_multitask_interrupt_stops_the_running_run(stack: Stack) -> None:
    tid, first = await blocked_run(stack)
    second = await stack.client.runs.wait(
        tid, "chain", input={"steps": []}, multitask_strategy="interrupt"
    )
    assert second["steps"][-1] == "node_9"
    assert (await stack.client.runs.get(tid, first["run_id"]))["status"] == "interrupted"


async def test_on_disconnect_cancel_stops_the_run(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    body = {
        "assistant_id": "counted",
        "input": {"steps": [], "gate": "c1"},
        "on_disconnect": "cancel",
    }
    async with (
        httpx.AsyncClient(base_url=stack.url) as http,
        http.stream("POST", f"/threads/{tid}/runs/wait", json=body) as response,
    ):
        assert response.status_code == 200
        run_id = response.headers["Content-Location"].rsplit("/", 1)[-1]
        await stack.wait_rows(
            "SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c1'", (tid,)
        )
    # The client hung up mid-run: the run is cancelled, not left running.
    await stack.wait_rows(
        "SELECT 1 FROM runs WHERE run_id = %s AND status = 'interrupted'", (run_id,)
    )
    kept = await stack.client.runs.create(tid, "chain", input={"steps": []})
    assert (await stack.client.runs.join(tid, kept["run_id"]))["steps"][-1] == "node_9"


async def test_the_thread_workflow_admits_runs_in_order(stack: Stack) -> None:
    tid, first = await blocked_run(stack, gate="c1")
    queued = [await stack.client.runs.create(tid, "chain", input={"steps": []}) for _ in range(3)]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        refused = await http.post(
            f"/threads/{tid}/runs",
            json={"assistant_id": "chain", "input": {}, "multitask_strategy": "reject"},
        )
    assert refused.status_code == 409
    assert len(await stack.client.runs.list(tid)) == 4  # the refused run left no row
    await stack.client.runs.cancel(tid, queued[1]["run_id"])  # cancelled while queued
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    for run in queued:
        await stack.client.runs.join(tid, run["run_id"])
    statuses = [(await stack.client.runs.get(tid, r["run_id"]))["status"] for r in queued]
    assert statuses == ["success", "interrupted", "success"]
    rows = [
        stack.sql("SELECT started_at, ended_at FROM runs WHERE run_id = %s", (r["run_id"],))[0]
        for r in (first, queued[0], queued[2])
    ]
    assert rows[0]["ended_at"] <= rows[1]["started_at"]
    assert rows[1]["ended_at"] <= rows[2]["started_at"]
    handle = stack.temporal.get_workflow_handle(thread_workflow_id(tid))
    children = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    # The first found the thread idle and started directly; the thread's workflow started
    # the rest: the cancelled one at once, only to take its cancel, the others in order.
    assert children == [run_workflow_id(queued[i]["run_id"]) for i in (1, 0, 2)]


async def test_rollback_strategy_removes_the_running_run(stack: Stack) -> None:
    tid, first = await blocked_run(stack)
    second = await stack.client.runs.wait(
        tid, "chain", input={"steps": []}, multitask_strategy="rollback"
    )
    assert second["steps"][-1] == "node_9"
    with pytest.raises(NotFoundError):
        await stack.client.runs.get(tid, first["run_id"])
    left = stack.sql(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s",
        (tid, first["run_id"]),
    )
    assert left == [{"n": 0}]


async def test_concurrent_runs_of_one_thread_never_overlap(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    runs = await asyncio.gather(
        *(stack.client.runs.create(tid, "chain", input={"steps": []}) for _ in range(10))
    )
    for run in runs:
        await stack.client.runs.join(tid, run["run_id"])
    rows = stack.sql(
        "SELECT status, started_at, ended_at FROM runs WHERE thread_id = %s ORDER BY started_at",
        (tid,),
    )
    assert [r["status"] for r in rows] == ["success"] * 10
    assert all(a["ended_at"] <= b["started_at"] for a, b in itertools.pairwise(rows))
    assert (await stack.client.threads.get(tid))["status"] == "idle"


async def test_runs_are_created_and_cancelled_with_no_worker_up(
    api: Stack, graphs: GraphRegistry
) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    # No worker polls yet: creating and cancelling runs still answer at once.
    cancelled = await api.client.runs.create(tid, "counted", input={"steps": []})
    await api.client.runs.cancel(tid, cancelled["run_id"])  # its workflow does not exist yet
    after = await api.client.runs.create(tid, "chain", input={"steps": []})
    async with running_worker(api.settings, api.temporal, graphs):
        assert (await api.client.runs.join(tid, after["run_id"]))["steps"][-1] == "node_9"
        assert (await api.client.runs.get(tid, cancelled["run_id"]))["status"] == "interrupted"
    assert api.sql("SELECT node FROM node_runs WHERE thread_id = %s", (tid,)) == []
