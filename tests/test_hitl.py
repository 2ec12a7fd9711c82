"""Human in the loop by signal: a run waits at its interrupt and the same run goes on when
answered, through each door (the SDK, POST .../resume, the Temporal CLI)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError

from graphyard.devstack.temporal import temporal_binary
from graphyard.storage import runs as run_rows
from graphyard.storage.db import open_pool
from graphyard.types import run_workflow_id
from tests.processes import api_process, worker_process
from tests.stack import Stack

pytestmark = pytest.mark.core

PLAN = "plan for: ship"


async def _paused(stack: Stack, graph: str = "approval", **kwargs: Any) -> tuple[str, str]:
    """A thread whose run waits at its first interrupt: (thread_id, run_id)."""
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    inp = kwargs.pop("input", {"request": "ship"})
    result = await stack.client.runs.wait(tid, graph, input=inp, **kwargs)
    assert "__interrupt__" in result
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "interrupted"
    return tid, run["run_id"]


async def test_the_sdk_answers_and_the_same_run_goes_on(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    thread = await stack.client.threads.get(tid)
    assert thread["status"] == "interrupted"
    (interrupts,) = thread["interrupts"].values()
    assert interrupts[0]["value"]["question"] == "Approve this plan?"
    state = await stack.client.threads.get_state(tid)
    assert state["next"] == ["ask"]
    assert state["tasks"][0]["interrupts"][0]["id"] == interrupts[0]["id"]
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    assert await handle.query("status") == "interrupted"

    result = await stack.client.runs.wait(tid, "approval", command={"resume": {"approved": True}})
    assert result == {
        "request": "ship",
        "draft": PLAN,
        "approved": True,
        "outcome": "done: " + PLAN,
    }
    (run,) = await stack.client.runs.list(tid)
    assert (run["run_id"], run["status"]) == (run_id, "success")
    assert (await stack.client.threads.get(tid))["status"] == "idle"
    assert (await handle.describe()).status.name == "COMPLETED"


async def test_a_resume_streams_the_continuation(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    parts = [
        p
        async for p in stack.client.runs.stream(
            tid, "approval", command={"resume": True}, stream_mode=["values", "updates"]
        )
    ]
    assert parts[0].event == "metadata"
    assert parts[0].data["run_id"] == run_id
    assert [p.event for p in parts[1:]] == ["values", "updates", "values", "updates", "values"]
    assert parts[2].data == {"ask": {"approved": True}}
    assert parts[-1].data["outcome"] == "done: " + PLAN
    # The whole run replays as one stream: the first segment, then the continuation.
    whole = [p.event async for p in stack.client.runs.join_stream(tid, run_id)]
    assert whole.count("metadata") == 2


async def test_resume_route_and_a_second_answer_conflicts(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        answered = await http.post(f"/threads/{tid}/runs/{run_id}/resume", json={"resume": False})
        assert answered.status_code == 200
        assert answered.json()["run_id"] == run_id
        result = await stack.client.runs.join(tid, run_id)
        assert result["outcome"] == "rejected"
        again = await http.post(f"/threads/{tid}/runs/{run_id}/resume", json={"resume": True})
        assert again.status_code == 409
        assert "not waiting" in again.json()["detail"]


async def test_the_temporal_cli_answers(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    done = await asyncio.to_thread(
        subprocess.run,
        [
            str(temporal_binary()),
            "workflow",
            "signal",
            "--address",
            stack.settings.temporal_address,
            "--workflow-id",
            run_workflow_id(run_id),
            "--name",
            "resume",
            "--input",
            json.dumps({"resume": {"approved": True}}),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The CLI talks to Temporal only: the run is resumed once its workflow takes the signal.
    await stack.wait_rows("SELECT 1 FROM runs WHERE run_id = %s AND status = 'success'", (run_id,))
    result = await stack.client.runs.join(tid, run_id)
    assert result["outcome"] == "done: " + PLAN
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "success"


async def test_two_interrupts_at_once_answered_by_id_many_times(stack: Stack) -> None:
    tid, run_id = await _paused(stack, "questions", input={"rounds": 3, "answers": []})
    for round_ in range(3):
        state = await stack.client.threads.get_state(tid)
        asked = {i["value"]["question"]: i["id"] for i in state["interrupts"]}
        assert set(asked) == {"a", "b"}
        answers = {asked["a"]: f"A{round_}", asked["b"]: f"B{round_}"}
        result = await stack.client.runs.wait(tid, "questions", command={"resume": answers})
    assert sorted(result["answers"]) == sorted(
        [f"a=A{r}" for r in range(3)] + [f"b=B{r}" for r in range(3)]
    )
    (run,) = await stack.client.runs.list(tid)
    assert (run["run_id"], run["status"]) == (run_id, "success")


async def test_command_update_with_the_answer(stack: Stack) -> None:
    tid, _ = await _paused(stack)
    result = await stack.client.runs.wait(
        tid, "approval", command={"update": {"draft": "edited plan"}, "resume": True}
    )
    assert result["outcome"] == "done: edited plan"


async def test_an_unanswered_run_times_out(stack: Stack) -> None:
    tid, run_id = await _paused(stack, config={"configurable": {"interrupt_timeout_seconds": 0.5}})
    await stack.wait_rows("SELECT 1 FROM runs WHERE run_id = %s AND status = 'timeout'", (run_id,))
    result = await stack.client.runs.join(tid, run_id)
    assert result["__error__"]["error"] == "TimeoutError"
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "timeout"
    # The interrupt is still there: a new run answers it (the reference's way).
    assert (await stack.client.threads.get(tid))["status"] == "interrupted"
    result = await stack.client.runs.wait(tid, "approval", command={"resume": True})
    assert result["outcome"] == "done: " + PLAN
    assert len(await stack.client.runs.list(tid)) == 2


async def test_cancel_a_waiting_run(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    await stack.client.runs.cancel(tid, run_id, wait=True)
    run = await stack.client.runs.get(tid, run_id)
    assert run["status"] == "interrupted"
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await stack.client.runs.cancel(tid, run_id)
    assert gone.value.response.status_code == 404
    thread = await stack.client.threads.get(tid)
    assert thread["status"] == "interrupted"  # its checkpoint still asks the question
    async with httpx.AsyncClient(base_url=stack.url) as http:
        late = await http.post(f"/threads/{tid}/runs/{run_id}/resume", json={"resume": True})
    assert late.status_code == 409


async def test_new_input_supersedes_a_waiting_run(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    result = await stack.client.runs.wait(tid, "approval", input={"request": "other"})
    assert result["draft"] == "plan for: other"
    first = await stack.client.runs.get(tid, run_id)
    assert first["status"] == "interrupted"
    assert stack.sql("SELECT waiting FROM runs WHERE run_id = %s", (run_id,)) == [
        {"waiting": False}
    ]


async def test_state_edited_while_waiting_is_what_the_run_resumes_from(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    await stack.client.threads.update_state(tid, {"draft": "a better plan"})
    result = await stack.client.runs.wait(tid, "approval", command={"resume": True})
    assert result["outcome"] == "done: a better plan"
    (run,) = await stack.client.runs.list(tid)
    assert run["run_id"] == run_id


async def test_concurrent_answers_resume_once(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"/threads/{tid}/runs/{run_id}/resume", json={"resume": True})
                for _ in range(10)
            )
        )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    assert (await stack.client.runs.join(tid, run_id))["outcome"] == "done: " + PLAN


async def test_idempotency_key_executes_once_and_refuses_another_body(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    key = {"Idempotency-Key": "order-42"}
    runs = await asyncio.gather(
        *(
            stack.client.runs.create(tid, "counted", input={"steps": []}, headers=key)
            for _ in range(20)
        )
    )
    assert len({r["run_id"] for r in runs}) == 1
    await stack.client.runs.join(tid, runs[0]["run_id"])
    counts = stack.sql(
        "SELECT node, count(*) AS n FROM node_runs WHERE thread_id = %s GROUP BY node", (tid,)
    )
    assert {r["node"]: r["n"] for r in counts} == {f"c{i}": 1 for i in range(5)}
    with pytest.raises(ConflictError):
        await stack.client.runs.create(tid, "counted", input={"steps": ["x"]}, headers=key)


@pytest.mark.slow
@pytest.mark.faults
async def test_resume_after_the_worker_and_the_api_restarted(api: Stack) -> None:
    async with api_process(api.settings) as (server, url):
        with worker_process(api.settings):
            client = get_client(url=url)
            thread = await client.threads.create()
            tid = thread["thread_id"]
            paused = await client.runs.wait(tid, "approval", input={"request": "ship"})
            assert "__interrupt__" in paused
        server.send_signal(signal.SIGKILL)
        server.wait()
    # Nothing runs anywhere now; the run waits in Temporal and Postgres only.
    (run,) = api.sql("SELECT run_id, status, waiting FROM runs WHERE thread_id = %s", (tid,))
    assert (run["status"], run["waiting"]) == ("interrupted", True)
    async with api_process(api.settings) as (_, url):
        with worker_process(api.settings):
            client = get_client(url=url)
            result = await client.runs.wait(tid, "approval", command={"resume": True})
            assert result["outcome"] == f"done: {PLAN}"
            (after,) = await client.runs.list(tid)
    assert (after["run_id"], after["status"]) == (str(run["run_id"]), "success")


async def test_a_bad_deadline_is_refused(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for bad in ("soon", -1):
            response = await http.post(
                f"/threads/{tid}/runs",
                json={
                    "assistant_id": "approval",
                    "input": {"request": "x"},
                    "config": {"configurable": {"interrupt_timeout_seconds": bad}},
                },
            )
            assert response.status_code == 422
            assert "interrupt_timeout_seconds" in response.json()["detail"]
    assert await stack.client.runs.list(tid) == []


async def test_a_pause_stands_whatever_order_the_status_writes_land_in(api: Stack) -> None:
    """After a workflow task times out, a first step's late attempt may mark its run
    ``running`` after a later step paused it (seen under load: the run stayed ``running``
    with its workflow waiting for an answer, and ``runs.wait`` never returned)."""
    thread = await api.client.threads.create()
    run = await api.client.runs.create(thread["thread_id"], "approval", input={"request": "x"})
    pool = await open_pool(api.settings)
    try:
        async with pool.connection() as conn:
            await run_rows.pause(conn, run["run_id"], output={}, last_events=[])
            await run_rows.mark_running(conn, run["run_id"])
    finally:
        await pool.close()
    row = api.sql("SELECT status, waiting FROM runs WHERE run_id = %s", (run["run_id"],))
    assert row == [{"status": "interrupted", "waiting": True}]
    wait = await api.client.runs.join(thread["thread_id"], run["run_id"])
    assert wait == {}
