"""Dead letters: a run that exhausts its attempts ends ``error`` with a record of what failed
and how often (run row, ``error`` event, Temporal history), is listed, and runs again from
its last checkpoint once the cause is fixed."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from graphyard.types import run_workflow_id
from tests.stack import Stack


async def cli(stack: Stack, *args: str) -> tuple[int, str]:
    """``graphyard runs ...`` against the test's API (asynchronously: the API serves in this
    event loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "graphyard",
        "runs",
        "--url",
        stack.url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def dead_run(stack: Stack) -> tuple[str, str, dict[str, Any]]:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    result = await stack.client.runs.wait(
        tid, "flaky", input={"error": "ValueError"}, raise_error=False
    )
    (run,) = await stack.client.runs.list(tid)
    return tid, run["run_id"], result


def executions(stack: Stack, tid: str) -> dict[str, int]:
    rows = stack.sql(
        "SELECT node, count(*) AS n FROM node_runs WHERE thread_id = %s GROUP BY node", (tid,)
    )
    return {r["node"]: r["n"] for r in rows}


async def test_a_dead_run_is_recorded_everywhere(stack: Stack) -> None:
    tid, run_id, result = await dead_run(stack)
    # langgraph.json gives "flaky" 3 attempts; its second super-step (index 1) failed.
    record = {"error": "ValueError", "message": "it failed", "step": 1, "attempts": 3}
    assert result == {"__error__": record}
    assert stack.sql("SELECT status, error FROM runs WHERE run_id = %s", (run_id,)) == [
        {"status": "error", "error": record}
    ]
    events = [e async for e in stack.client.runs.join_stream(tid, run_id)]
    assert [e.data for e in events if e.event == "error"] == [record]
    # The workflow fails: the Temporal UI lists dead runs as Failed, with the cause.
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()  # wait returned once the end was written; the failure follows
    assert "ValueError: it failed" in str(failed.value.cause)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    async with httpx.AsyncClient(base_url=stack.url) as http:
        dead = (await http.get("/runs/dead", params={"graph_id": "flaky", "limit": 100})).json()
        other = (await http.get("/runs/dead", params={"graph_id": "chain"})).json()
    assert [(r["run_id"], r["error"]) for r in dead] == [(run_id, record)]
    assert other == []
    code, out = await cli(stack, "dead", "--graph", "flaky")
    assert code == 0
    assert run_id in out
    assert "(step 1, 3 attempts)" in out


async def test_retry_runs_a_dead_run_again_from_its_last_checkpoint(stack: Stack) -> None:
    tid, run_id, _ = await dead_run(stack)
    assert executions(stack, tid) == {"begin": 1, "attempt": 3}
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))  # the cause is fixed
    code, out = await cli(stack, "retry", run_id)
    assert code == 0, out
    assert json.loads(out) == {"run_id": run_id, "status": "pending"}
    assert await stack.client.runs.join(tid, run_id) == {"error": "ValueError"}
    assert (await stack.client.runs.get(tid, run_id))["status"] == "success"
    assert (await stack.client.threads.get(tid))["status"] == "idle"
    # The completed first super-step did not run again; the failed one ran once more.
    assert executions(stack, tid) == {"begin": 1, "attempt": 4}
    async with httpx.AsyncClient(base_url=stack.url) as http:
        dead = (await http.get("/runs/dead", params={"graph_id": "flaky", "limit": 100})).json()
        assert run_id not in [r["run_id"] for r in dead]
        # A run that succeeded does not go again.
        again = await http.post(f"/runs/{run_id}/retry")
        assert again.status_code == 409
        assert "only runs that ended in error" in again.json()["detail"]
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    await handle.result()  # join returned once the end was written; the workflow closes next
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_retry_refuses_what_it_cannot_redrive(stack: Stack) -> None:
    tid, run_id, _ = await dead_run(stack)
    later = await stack.client.runs.wait(
        tid, "flaky", input={"error": "KeyError"}, raise_error=False
    )
    assert later["__error__"]["error"] == "KeyError"
    async with httpx.AsyncClient(base_url=stack.url) as http:
        # A later run moved the thread on: the older dead run cannot go again.
        refused = await http.post(f"/runs/{run_id}/retry")
        assert refused.status_code == 409
        assert "came after this one" in refused.json()["detail"]
        assert (
            await http.post("/runs/00000000-0000-0000-0000-000000000000/retry")
        ).status_code == 404
        assert (await http.post("/runs/not-a-uuid/retry")).status_code == 422
    assert (await stack.client.runs.get(tid, run_id))["status"] == "error"
    code, out = await cli(stack, "retry", run_id)
    assert code == 1
    assert "came after this one" in out
