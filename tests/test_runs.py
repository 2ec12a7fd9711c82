"""Runs through langgraph-sdk: results, state, history shape, statuses, idempotency, bad input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError
from temporalio.api.enums.v1 import EventType

from graphyard.types import STEP_ACTIVITY, run_workflow_id
from tests.stack import Stack

pytestmark = pytest.mark.core

CHAIN = [f"node_{i}" for i in range(10)]

EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any], int]] = [
    ("chain", {"steps": []}, {"steps": CHAIN}, 10),
    (
        "fanout",
        {"topic": "t"},
        {
            "topic": "t",
            "results": [f"t-{i}" for i in range(8)],
            "summary": ",".join(f"t-{i}" for i in range(8)),
        },
        2,
    ),
    (
        "approval",
        {"request": "ship"},
        {"request": "ship", "draft": "plan for: ship"},
        2,
    ),
]


async def step_activities(stack: Stack, run_id: str) -> int:
    """How many super-step activities the run's history holds (local markers or regular)."""
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    count = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            count += (
                event.activity_task_scheduled_event_attributes.activity_type.name == STEP_ACTIVITY
            )
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = event.marker_recorded_event_attributes.details
            if "data" in details:  # a local activity's marker (not a patch's)
                count += STEP_ACTIVITY.encode() in details["data"].payloads[0].data
    return count


async def recorded_steps(stack: Stack, run_id: str, steps: int) -> None:
    """Wait (bounded) until the run's history holds ``steps`` super-step activities."""
    for _ in range(200):
        if await step_activities(stack, run_id) >= steps:
            return
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
@pytest.mark.parametrize(("graph", "inp", "expected", "steps"), EXAMPLES)
async def test_wait_returns_final_state(
    stack: Stack, graph: str, inp: dict[str, Any], expected: dict[str, Any], steps: int
) -> None:
    thread = await stack.client.threads.create()
    result = await stack.client.runs.wait(thread["thread_id"], graph, input=inp)
    interrupts = result.pop("__interrupt__", None)
    assert result == expected
    state = await stack.client.threads.get_state(thread["thread_id"])
    assert state["values"] == expected
    runs = await stack.client.runs.list(thread["thread_id"])
    assert len(runs) == 1
    # A run stopped at an interrupt waits for its answer (the reference ends it "success").
    assert runs[0]["status"] == ("interrupted" if graph == "approval" else "success")
    if graph == "approval":
        # wait returns once the step wrote the pause; its workflow task may complete later.
        await recorded_steps(stack, runs[0]["run_id"], steps)
    assert await step_activities(stack, runs[0]["run_id"]) == steps
    if graph == "approval":
        assert interrupts is not None
        assert interrupts[0]["value"]["question"] == "Approve this plan?"
        assert state["next"] == ["ask"]
        assert state["interrupts"][0]["id"] == interrupts[0]["id"]
        assert (await stack.client.threads.get(thread["thread_id"]))["status"] == "interrupted"
    else:
        assert state["next"] == []
        assert (await stack.client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_chat_messages_and_checkpoints_in_postgres(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    first = await stack.client.runs.wait(
        tid, "chat", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert [m["type"] for m in first["messages"]] == ["human", "ai"]
    assert first["messages"][-1]["content"] == "Hi! You said: hi (turn 1)"
    second = await stack.client.runs.wait(
        tid, "chat", input={"messages": [{"role": "user", "content": "again"}]}
    )
    assert second["messages"][-1]["content"] == "Hi! You said: again (turn 2)"
    rows = stack.sql("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (tid,))
    assert rows[0]["n"] >= 6  # input + start + respond, twice
    state = await stack.client.threads.get_state(tid)
    assert state["values"] == second
    assert state["checkpoint"]["thread_id"] == tid


async def test_stateless_wait(stack: Stack) -> None:
    result = await stack.client.runs.wait(None, "chain", input={"steps": ["x"]})
    assert result == {"steps": ["x", *CHAIN]}
    assert stack.sql("SELECT count(*) AS n FROM threads")[0]["n"] == 0  # temporary thread removed


async def test_run_moves_through_statuses(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(tid, "counted", input={"steps": [], "gate": "c2"})
    assert run["status"] == "pending"
    await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c2'", (tid,))
    assert (await stack.client.runs.get(tid, run["run_id"]))["status"] == "running"
    assert (await stack.client.threads.get(tid))["status"] == "busy"
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    result = await stack.client.runs.join(tid, run["run_id"])
    assert result["steps"] == ["c0", "c1", "c2", "c3", "c4"]
    final = await stack.client.runs.get(tid, run["run_id"])
    assert final["status"] == "success"
    row = stack.sql("SELECT started_at, ended_at FROM runs WHERE run_id = %s", (run["run_id"],))[0]
    assert row["started_at"] <= row["ended_at"]
    assert (await stack.client.threads.get(tid))["status"] == "idle"


async def test_same_run_submitted_twice_executes_once(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await stack.client.runs.create(tid, "counted", input={"steps": []}, headers=key)
    second = await stack.client.runs.create(tid, "counted", input={"steps": []}, headers=key)
    assert first["run_id"] == second["run_id"]
    await stack.client.runs.join(tid, first["run_id"])
    third = await stack.client.runs.create(tid, "counted", input={"steps": []}, headers=key)
    assert third["run_id"] == first["run_id"]
    await stack.client.runs.join(tid, first["run_id"])
    counts = stack.sql(
        "SELECT node, count(*) AS n FROM node_runs WHERE thread_id = %s GROUP BY node", (tid,)
    )
    assert {r["node"]: r["n"] for r in counts} == {f"c{i}": 1 for i in range(5)}
    assert len(await stack.client.runs.list(tid)) == 1


async def test_failing_graph_ends_error(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    result = await stack.client.runs.wait(tid, "failing", input={}, raise_error=False)
    assert result["__error__"] == {
        "error": "ValueError",
        "message": "kaboom",
        "step": 1,
        "attempts": 3,
    }
    runs = await stack.client.runs.list(tid)
    assert runs[0]["status"] == "error"
    assert (await stack.client.threads.get(tid))["status"] == "error"


async def test_bad_input_is_rejected_and_changes_nothing(stack: Stack) -> None:
    before = stack.sql(
        "SELECT (SELECT count(*) FROM threads) AS t, (SELECT count(*) FROM runs) AS r"
    )
    thread_id = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as missing_thread:
        await stack.client.runs.create(thread_id, "chain", input={})
    assert missing_thread.value.response.json() == {"detail": "Thread or assistant not found."}
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(thread_id)
    with pytest.raises(NotFoundError):
        await stack.client.threads.get_state(thread_id)
    with pytest.raises(httpx.HTTPStatusError) as missing_assistant:
        await stack.client.runs.wait(None, str(uuid.uuid4()), input={})
    assert missing_assistant.value.response.status_code == 404
    assert missing_assistant.value.response.json() == {"detail": "Thread or assistant not found."}
    with pytest.raises(httpx.HTTPStatusError) as bad_assistant:
        await stack.client.runs.wait(None, "no-such-graph", input={})
    assert bad_assistant.value.response.status_code == 422
    assert "Invalid assistant" in bad_assistant.value.response.json()["detail"]
    with pytest.raises(UnprocessableEntityError):
        await stack.client.threads.get("not-a-uuid")
    http = stack.client.http.client
    malformed = await http.post(
        "/runs/wait", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json() == {"detail": "Invalid JSON in request body"}
    no_assistant = await http.post("/runs", json={"input": {}})
    assert no_assistant.status_code == 422
    assert "assistant_id" in no_assistant.json()["detail"]
    after = stack.sql(
        "SELECT (SELECT count(*) FROM threads) AS t, (SELECT count(*) FROM runs) AS r"
    )
    assert after == before


async def test_a_run_from_an_unknown_checkpoint_is_refused_at_create(stack: Stack) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, "chain", input={"steps": []})
    before = stack.sql("SELECT (SELECT count(*) FROM threads) t, (SELECT count(*) FROM runs) r")
    unknown = str(uuid.uuid4())
    with pytest.raises(UnprocessableEntityError):
        await stack.client.runs.create(tid, "chain", input=None, checkpoint_id="zz")
    with pytest.raises(NotFoundError):
        await stack.client.runs.create(tid, "chain", input=None, checkpoint_id=unknown)
    # runs.wait raises httpx's own error.
    with pytest.raises(httpx.HTTPStatusError) as waited:
        await stack.client.runs.wait(
            tid, "chain", input=None, checkpoint={"checkpoint_id": unknown}
        )
    assert waited.value.response.status_code == 404
    with pytest.raises(NotFoundError):  # a thread created by the run has no checkpoint at all
        await stack.client.runs.create(
            str(uuid.uuid4()), "chain", input=None, checkpoint_id=unknown, if_not_exists="create"
        )
    with pytest.raises(httpx.HTTPStatusError) as stateless:
        await stack.client.runs.wait(None, "chain", input=None, checkpoint_id=unknown)
    assert stateless.value.response.status_code == 404
    after = stack.sql("SELECT (SELECT count(*) FROM threads) t, (SELECT count(*) FROM runs) r")
    assert after == before
    assert len(await stack.client.runs.list(tid)) == 1


async def test_fork_from_a_past_checkpoint(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(tid, "chain", input={"steps": []})
    history = await stack.client.threads.get_history(tid, limit=20)
    at_three = next(h for h in history if h["values"].get("steps") == CHAIN[:3])
    forked = await stack.client.runs.wait(
        tid, "chain", input=None, checkpoint_id=at_three["checkpoint"]["checkpoint_id"]
    )
    assert forked == {"steps": CHAIN}
    # The thread's latest checkpoint now descends from the chosen one, beside the original run.
    everything = await stack.client.threads.get_history(tid, limit=100)
    parents = {
        h["checkpoint"]["checkpoint_id"]: (h["parent_checkpoint"] or {}).get("checkpoint_id")
        for h in everything
    }
    cursor = everything[0]["checkpoint"]["checkpoint_id"]
    lineage = []
    while cursor:
        lineage.append(cursor)
        cursor = parents.get(cursor)
    assert at_three["checkpoint"]["checkpoint_id"] in lineage
    assert history[0]["checkpoint"]["checkpoint_id"] not in lineage


async def test_config_context_and_metadata_reach_the_graph(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(
        tid, "chain", input={"steps": []}, metadata={"origin": "test"}, config={"tags": ["t1"]}
    )
    state = await stack.client.threads.get_state(tid)
    assert state["metadata"]["origin"] == "test"
    assert state["metadata"]["graph_id"] == "chain"
    run = (await stack.client.runs.list(tid))[0]
    assert run["metadata"] == {"origin": "test"}
    assert run["kwargs"]["config"]["tags"] == ["t1"]
    assert run["kwargs"]["config"]["configurable"]["run_id"] == run["run_id"]
    with pytest.raises(httpx.HTTPStatusError) as both:
        await stack.client.runs.wait(
            tid, "chain", input={}, config={"configurable": {"a": 1}}, context={"a": 1}
        )
    assert both.value.response.status_code == 400


async def test_after_seconds_delays_the_start(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(tid, "chain", input={"steps": []}, after_seconds=2)
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
    description = await handle.describe()
    assert description.execution_time is not None
    assert (description.execution_time - description.start_time).total_seconds() >= 1.9
    assert (await stack.client.runs.get(tid, run["run_id"]))["status"] == "pending"
    assert (await stack.client.runs.join(tid, run["run_id"]))["steps"] == CHAIN


async def test_batch_of_stateless_runs(stack: Stack) -> None:
    runs = await stack.client.runs.create_batch(
        [
            {"assistant_id": "chain", "input": {"steps": ["a"]}, "on_completion": "keep"},
            {"assistant_id": "chain", "input": {"steps": ["b"]}, "on_completion": "keep"},
        ]
    )
    assert len({r["run_id"] for r in runs}) == 2
    results = [await stack.client.runs.join(r["thread_id"], r["run_id"]) for r in runs]
    assert [r["steps"][0] for r in results] == ["a", "b"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        empty = await http.post("/runs/batch", json=[])
        assert empty.status_code == 422


async def test_resume_an_interrupted_thread_with_a_command(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    asked = await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    interrupt_id = asked["__interrupt__"][0]["id"]
    done = await stack.client.runs.wait(
        tid, "approval", command={"resume": {interrupt_id: {"approved": True}}}
    )
    assert done["outcome"] == "done: plan for: ship"
    assert "__interrupt__" not in done
    assert (await stack.client.threads.get(tid))["status"] == "idle"
    state = await stack.client.threads.get_state(tid)
    assert state["next"] == []
    with pytest.raises(httpx.HTTPStatusError) as stateless:
        await stack.client.runs.wait(None, "approval", command={"resume": True})
    assert stateless.value.response.status_code == 400


async def test_retry_policy_per_graph_and_errors_listed_as_final(stack: Stack) -> None:
    async def attempts(error: str, at: str = "attempt") -> tuple[str, int]:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        result = await stack.client.runs.wait(
            tid, "flaky", input={"error": error, "at": at}, raise_error=False
        )
        (run,) = await stack.client.runs.list(tid)
        assert result["__error__"]["error"] == error
        rows = stack.sql(
            "SELECT count(*) AS n FROM node_runs WHERE thread_id = %s AND node = %s", (tid, at)
        )
        return run["status"], rows[0]["n"]

    # langgraph.json gives "flaky" 3 attempts 0.1 s apart, and lists LookupError as final.
    assert await attempts("ValueError") == ("error", 3)
    assert await attempts("KeyError") == ("error", 1)  # a LookupError: no retry can fix it
    # The first step fails after its input checkpoint: the budget still holds.
    assert await attempts("ValueError", at="begin") == ("error", 3)
