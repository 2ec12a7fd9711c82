"""The Temporal UI as the run inspector: search attributes that follow a run's status, step
summaries and current details in its history; plus the setup command that registers the
search attributes on a cluster."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from graphyard.cli import main
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.temporal import check_search_attributes, setup_search_attributes
from graphyard.types import RUN_STATUS, STEP_ACTIVITY, run_workflow_id
from tests.stack import Stack


async def runs_where(client: Client, query: str, expected: int, timeout: float = 10) -> list[str]:
    """The workflow ids ``query`` finds once it finds ``expected`` (visibility lags a little)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = [wf.id async for wf in client.list_workflows(query)]
        if len(ids) == expected or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.1)


# Failed steps are retried quickly.
@pytest.mark.parametrize(
    "settings", [{"step_initial_retry_interval": timedelta(milliseconds=50)}], indirect=True
)
async def test_search_attributes_follow_the_run(stack: Stack) -> None:
    client = stack.temporal
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    runs = f'WorkflowType = "RunWorkflow" and ThreadId = "{tid}"'

    await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    (run,) = await stack.client.runs.list(tid)
    wf = run_workflow_id(run["run_id"])
    waiting = f'{runs} and RunStatus = "interrupted" and ExecutionStatus = "Running"'
    assert await runs_where(client, waiting, 1) == [wf]
    assert await runs_where(client, f'GraphId = "approval" and {runs}', 1) == [wf]
    assert await runs_where(client, f'AssistantId = "{run["assistant_id"]}" and {runs}', 1)

    await stack.client.runs.wait(tid, "approval", command={"resume": True})
    assert await runs_where(client, f'{runs} and RunStatus = "success"', 1) == [wf]
    assert await runs_where(client, f'{runs} and RunStatus = "interrupted"', 0) == []

    # A failure; a cancelled run (interrupted, its workflow closed); a run not started yet.
    await stack.client.runs.wait(tid, "failing", input={}, raise_error=False)
    assert len(await runs_where(client, f'{runs} and RunStatus = "error"', 1)) == 1
    other = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(other, "approval", input={"request": "ship"})
    (paused,) = await stack.client.runs.list(other)
    await stack.client.runs.cancel(other, paused["run_id"], wait=True)
    cancelled = f'ThreadId = "{other}" and RunStatus = "interrupted" and ExecutionStatus = '
    assert await runs_where(client, cancelled + '"Completed"', 1) == [
        run_workflow_id(paused["run_id"])
    ]
    later = await stack.client.runs.create(other, "chain", input={"steps": []}, after_seconds=60)
    pending = f'ThreadId = "{other}" and RunStatus = "pending"'
    assert await runs_where(client, pending, 1) == [run_workflow_id(later["run_id"])]
    await stack.client.runs.cancel(other, later["run_id"])


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_history_names_each_step_and_the_run_describes_itself(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    (run,) = await stack.client.runs.list(tid)
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details
    assert details.startswith("**interrupted** · step 2 · graph `approval`")
    assert f"thread `{tid}`" in details
    state = await stack.client.threads.get_state(tid)
    interrupt_id = state["tasks"][0]["interrupts"][0]["id"]
    assert f"waiting at `{interrupt_id}` before ask" in details
    assert "--name resume" in details
    assert await handle.query("status") == "interrupted"

    await stack.client.runs.wait(tid, "approval", command={"resume": True})
    await handle.result()  # local steps are recorded when the workflow task completes
    summaries = []
    async for event in handle.fetch_history_events():
        local = event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        regular = event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        if regular:
            local = event.activity_task_scheduled_event_attributes.activity_type.name == (
                STEP_ACTIVITY
            )
        if local and event.user_metadata.HasField("summary"):
            summaries.append(event.user_metadata.summary.data.decode())
    assert summaries == [
        '"step 0: input"',
        '"step 1: ask"',
        '"step 2: ask (resumed)"',
        '"step 3: act"',
    ]
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**success** · step 4")


async def test_setup_registers_the_search_attributes_once(
    temporal_env: WorkflowEnvironment, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    client = temporal_env.client
    namespace = f"gy-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    elsewhere = settings.model_copy(update={"temporal_namespace": namespace})
    deadline = time.monotonic() + 30
    while True:  # a new namespace takes a moment to be known everywhere
        try:
            with pytest.raises(ConfigError, match="graphyard temporal setup"):
                await check_search_attributes(client, elsewhere)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    added = await setup_search_attributes(client, namespace)
    assert added == ["AssistantId", "GraphId", "RunStatus", "ThreadId"]
    assert await setup_search_attributes(client, namespace) == []
    await check_search_attributes(client, elsewhere)
    untagged = elsewhere.model_copy(update={"search_attributes": False})
    await check_search_attributes(client, untagged)

    # The command, on the namespace the session's tests use: nothing to do.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GRAPHYARD_TEMPORAL_ADDRESS", settings.temporal_address)
            assert await asyncio.to_thread(main, ["temporal", "setup"]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    assert "already registered in namespace default" in capsys.readouterr().out


async def test_a_run_started_at_once_upserts_only_its_end(stack: Stack) -> None:
    """Started on an idle thread, a run is tagged ``running`` from its start: the one
    ``RunStatus`` upsert (a billable action) is its end."""
    tid = (await stack.client.threads.create())["thread_id"]
    run = await stack.client.runs.create(tid, "chain", input={"steps": []})
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
    await handle.result()  # the row ends in the last step, the workflow a task later
    statuses = [
        event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[
            "RunStatus"
        ].data
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and "RunStatus" in _upserted(event)
    ]
    assert statuses == [b'"success"']


@pytest.mark.parametrize("settings", [{"search_attributes": False}], indirect=True)
async def test_runs_started_untagged_never_upsert(stack: Stack) -> None:
    """With GRAPHYARD_SEARCH_ATTRIBUTES=false a run starts without them and its workflow
    leaves them alone (a server without them would fail the upsert)."""
    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    await stack.client.runs.wait(tid, "approval", command={"resume": True})
    (run,) = await stack.client.runs.list(tid)
    assert run["status"] == "success"
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
    upserted = [
        name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        for name in _upserted(event)
    ]
    # Only the SDK's own, once for the one patch marker new runs carry.
    assert upserted == ["TemporalChangeVersion"]
    assert (await handle.describe()).typed_search_attributes.get(RUN_STATUS) is None


def _upserted(event: HistoryEvent) -> list[str]:
    attributes = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    return list(attributes.indexed_fields)
