"""Run control as the reference server does it (issue 21): a cancel stops the node in flight,
the breakpoints of the request that continues a run, history ``before`` in config form, context
in ``configurable``, case-insensitive name sorts, assistant deletes, graph factories of every
form, and resume signals as an operator types them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from langgraph_sdk.errors import APIStatusError, NotFoundError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.service import RPCError, RPCStatusCode

from graphyard.devstack.temporal import temporal_binary
from graphyard.graphs import default_assistant_id
from graphyard.schedules import schedule_id
from graphyard.types import run_workflow_id
from tests.stack import Stack


async def _cancel_latency(stack: Stack) -> float:
    """Seconds from a cancel of a run whose first node awaits to the run being stopped."""
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(tid, "slow_chain", input={"steps": [], "pause": 1.5})
    await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s", (tid,))
    started = time.monotonic()
    await stack.client.runs.cancel(tid, run["run_id"], wait=True)
    latency = time.monotonic() - started
    assert (await stack.client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    state = await stack.client.threads.get_state(tid)
    # As before the super-step the cancel stopped: s1's writes are discarded, nothing follows.
    assert state["values"]["steps"] == []
    assert state["next"] == ["s1"]
    nodes = stack.sql("SELECT node FROM node_runs WHERE thread_id = %s", (tid,))
    assert [r["node"] for r in nodes] == ["s1"]
    return latency


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_cancel_stops_the_node_in_flight(stack: Stack) -> None:
    latencies = sorted([await _cancel_latency(stack) for _ in range(8)])
    kind = stack.settings.step_activity
    print(f"{kind} cancel -> interrupted (s): {[round(x, 3) for x in latencies]}")
    # Was 4 s (the node in flight and the next one finished). The target is 0.5 s at
    # p95; the bound leaves room for a saturated shared machine.
    assert latencies[len(latencies) // 2] < 0.5
    assert latencies[-1] < 1.5
    # The thread goes on from the stopped node.
    thread = (await stack.client.threads.search(limit=1))[0]
    done = await stack.client.runs.wait(thread["thread_id"], "slow_chain", input=None)
    assert done["steps"] == ["s1", "s2", "s3"]


async def test_continuing_past_a_breakpoint_takes_the_new_requests_breakpoints(
    stack: Stack,
) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    inp = {"steps": [], "pause": 0}
    await stack.client.runs.wait(tid, "slow_chain", input=inp, interrupt_before="*")
    assert (await stack.client.threads.get_state(tid))["next"] == ["s1"]
    done = await stack.client.runs.wait(tid, "slow_chain", input=None)
    assert done["steps"] == ["s1", "s2", "s3"]

    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, "slow_chain", input=inp, interrupt_before="*")
    await stack.client.runs.wait(tid, "slow_chain", input=None, interrupt_before=["s3"])
    state = await stack.client.threads.get_state(tid)
    assert state["values"]["steps"] == ["s1", "s2"]
    assert state["next"] == ["s3"]


async def test_history_before_in_config_form(stack: Stack) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, "slow_chain", input={"steps": [], "pause": 0})
    history = await stack.client.threads.get_history(tid, limit=10)
    ids = [s["checkpoint"]["checkpoint_id"] for s in history]
    before = ids[1]
    as_config = await stack.client.threads.get_history(
        tid,
        limit=2,
        before={"configurable": {"checkpoint_id": before}},  # type: ignore[arg-type]
    )
    bare = await stack.client.threads.get_history(
        tid,
        limit=2,
        before={"checkpoint_id": before},  # type: ignore[arg-type]
    )
    assert [s["checkpoint"]["checkpoint_id"] for s in as_config] == ids[2:4]
    assert [s["checkpoint"]["checkpoint_id"] for s in bare] == ids[2:4]


async def test_context_reaches_configurable(stack: Stack) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    out = await stack.client.runs.wait(tid, "context_reader", input={}, context={"user": "ada"})
    assert out["context"] == {"user": "ada"}
    assert out["configurable_user"] == "ada"


async def test_sorts_are_the_references(stack: Stack) -> None:
    tag = uuid.uuid4().hex
    for name in ("beta", "Alpha", "Gamma"):
        await stack.client.assistants.create("slow_chain", name=name, metadata={"t": tag})
    for order, expected in (
        ("desc", ["Gamma", "beta", "Alpha"]),
        ("asc", ["Alpha", "beta", "Gamma"]),
    ):
        found = await stack.client.assistants.search(
            metadata={"t": tag},
            sort_by="name",
            sort_order=order,  # type: ignore[arg-type]
        )
        assert [a["name"] for a in found] == expected
    assistant = await stack.client.assistants.create("slow_chain", metadata={"t": tag})
    aid = assistant["assistant_id"]
    ending = await stack.client.crons.create(
        aid, schedule="0 0 * * *", end_time=datetime(2099, 1, 1, tzinfo=UTC)
    )
    endless = await stack.client.crons.create(aid, schedule="0 0 * * *")
    for order, expected in (("asc", [endless, ending]), ("desc", [ending, endless])):
        found = await stack.client.crons.search(
            assistant_id=aid,
            sort_by="end_time",
            sort_order=order,  # type: ignore[arg-type]
        )
        assert [c["cron_id"] for c in found] == [c["cron_id"] for c in expected]
    tid = (await stack.client.threads.create())["thread_id"]
    threaded = await stack.client.crons.create_for_thread(tid, aid, schedule="0 0 * * *")
    by_thread = await stack.client.crons.search(
        assistant_id=aid,
        sort_by="thread_id",
        sort_order="asc",  # type: ignore[arg-type]
    )
    # The reference sorts a missing thread id as the text "none": after every id.
    assert by_thread[0]["cron_id"] == threaded["cron_id"]
    assert by_thread[-1]["thread_id"] is None


async def _closed(stack: Stack, run_id: str) -> None:
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    for _ in range(600):
        if (
            await handle.describe()
        ).status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the workflow of run {run_id} still runs")


async def test_deleting_an_assistant_deletes_its_runs_and_crons(stack: Stack) -> None:
    aid = (await stack.client.assistants.create("slow_chain"))["assistant_id"]
    done_tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(done_tid, aid, input={"steps": [], "pause": 0})
    (done,) = await stack.client.runs.list(done_tid)
    live_tid = (await stack.client.threads.create())["thread_id"]
    live = await stack.client.runs.create(live_tid, aid, input={"steps": [], "pause": 30})
    await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s", (live_tid,))
    cron = await stack.client.crons.create(aid, schedule="0 0 * * *")
    await stack.client.assistants.delete(aid)
    assert await stack.client.runs.list(done_tid) == []
    with pytest.raises(NotFoundError):
        await stack.client.runs.get(done_tid, done["run_id"])
    assert await stack.client.runs.list(live_tid) == []
    await _closed(stack, live["run_id"])
    assert await stack.client.crons.search(assistant_id=aid) == []
    with pytest.raises(RPCError) as gone:
        await stack.temporal.get_schedule_handle(schedule_id(cron["cron_id"])).describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    assert (await stack.client.threads.get(done_tid))["thread_id"] == done_tid  # kept

    aid = (await stack.client.assistants.create("slow_chain"))["assistant_id"]
    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, aid, input={"steps": [], "pause": 0})
    await stack.client.assistants.delete(aid, delete_threads=True)
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(tid)


FACTORIES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("no_args", {}, {"access": None, "context": None, "flavour": None}),
    ("config_only", {"config": {"configurable": {"flavour": "x"}}}, {"flavour": "x"}),
    (
        "runtime_only",
        {"context": {"flavour": "x"}},
        {"access": "threads.create_run", "context": {"flavour": "x"}},
    ),
    (
        "make_graph",
        {"context": {"flavour": "x"}},
        {"access": "threads.create_run", "context": {"flavour": "x"}, "flavour": "x"},
    ),
    (
        "runtime_first",
        {"context": {"flavour": "x"}},
        {"access": "threads.create_run", "flavour": "x"},
    ),
    (
        "async_pair",
        {"context": {"flavour": "x"}},
        {"access": "threads.create_run", "context": {"flavour": "x"}},
    ),
    ("sync_managed", {"config": {"configurable": {"flavour": "x"}}}, {"flavour": "x"}),
    (
        "async_managed",
        {"context": {"flavour": "x"}},
        {"access": "threads.create_run", "context": {"flavour": "x"}},
    ),
]


async def test_graph_factories_of_every_form(stack: Stack) -> None:
    for name, options, expected in FACTORIES:
        tid = (await stack.client.threads.create())["thread_id"]
        out = await stack.client.runs.wait(tid, f"factory_{name}", input={}, **options)
        assert out["made"] == name
        assert {k: out.get(k) for k in expected} == expected, name
        state = await stack.client.threads.get_state(tid)
        assert state["values"]["made"] == name
        schemas = await stack.client.assistants.get_schemas(default_assistant_id(f"factory_{name}"))
        assert schemas["graph_id"] == f"factory_{name}"
        if name.endswith("managed"):
            # Entered for the run's steps and the state read, and exited after each use.
            rows = stack.sql("SELECT node FROM node_runs WHERE thread_id = %s", (tid,))
            entered = [r["node"] for r in rows].count("enter")
            assert entered >= 2
            assert [r["node"] for r in rows].count("exit") == entered


@pytest.mark.parametrize(
    ("graph_id", "message"),
    [("factory_two_configs", "graph factory"), ("factory_broken", "no graph today")],
)
async def test_a_graph_that_fails_to_load_ends_its_run_error(
    stack: Stack, graph_id: str, message: str
) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    out = await asyncio.wait_for(
        stack.client.runs.wait(tid, graph_id, input={}, raise_error=False), timeout=60
    )
    assert message in out["__error__"]["message"]
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "error"
    # The API says so too, as the reference answers an invalid graph.
    with pytest.raises(APIStatusError) as refused:
        await stack.client.assistants.get_schemas(default_assistant_id(graph_id))
    assert refused.value.status_code == 424
    assert message in str(refused.value)


async def _paused(stack: Stack) -> tuple[str, str]:
    tid = (await stack.client.threads.create())["thread_id"]
    result = await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    assert "__interrupt__" in result
    (run,) = await stack.client.runs.list(tid)
    return tid, run["run_id"]


async def _signal(stack: Stack, run_id: str, *inputs: str) -> None:
    args = [arg for value in inputs for arg in ("--input", value)]
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
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def test_a_bare_json_value_resumes_and_a_bad_signal_is_shown(stack: Stack) -> None:
    tid, run_id = await _paused(stack)
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    await _signal(stack, run_id, '"a"', '"b"')  # two inputs: not an answer
    for _ in range(600):
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        if "ignored" in metadata.current_details:
            break
        await asyncio.sleep(0.05)
    assert "resume signal ignored: resume takes one input, got 2" in metadata.current_details
    assert await handle.query("status") == "interrupted"

    await _signal(stack, run_id, json.dumps(True))  # the answer as one types it
    await stack.wait_rows("SELECT 1 FROM runs WHERE run_id = %s AND status = 'success'", (run_id,))
    assert (await stack.client.runs.join(tid, run_id))["outcome"] == "done: plan for: ship"

    tid, run_id = await _paused(stack)
    await _signal(stack, run_id, '"yes"')
    await stack.wait_rows("SELECT 1 FROM runs WHERE run_id = %s AND status = 'success'", (run_id,))
    assert (await stack.client.runs.join(tid, run_id))["outcome"] == "rejected"
