"""Replay: committed histories of ``RunWorkflow`` must replay on today's workflow code, so a change
that would break runs in flight fails the build. Also one run with no workflow cache, where
every workflow task replays the history so far, and one replay in the workflow sandbox (the
workers run unsandboxed), so the sandbox's determinism checks run somewhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from graphyard.converter import DATA_CONVERTER
from graphyard.graphs import GraphRegistry
from graphyard.schedules import schedule_id
from graphyard.types import (
    RUN_WORKFLOW,
    RunInput,
    RunOutcomeSummary,
    StepInput,
    StepResult,
    run_workflow_id,
    thread_workflow_id,
)
from graphyard.worker import running_worker
from graphyard.workflows import ALL_WORKFLOWS, RunWorkflow, versioned_workflows
from tests.receiver import receiving
from tests.stack import Stack
from tests.unsandboxed_clock import RunWorkflowReadingTheClock

pytestmark = [pytest.mark.core, pytest.mark.replay]

HISTORIES = Path(__file__).parent / "histories"
# Set to record histories of the current code under the tag below (then review and commit them);
# bump the tag whenever workflow code changes, and keep the older histories: runs started on
# older code must still replay.
RECORD = os.environ.get("GRAPHYARD_RECORD_HISTORIES") == "1"
TAG = "v11"


def replayer() -> Replayer:
    return Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=DATA_CONVERTER,
    )


def committed() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def run_histories() -> list[Path]:
    """The committed histories of ``RunWorkflow``."""
    return [
        path
        for path in committed()
        if history(path).events[0].workflow_execution_started_event_attributes.workflow_type.name
        == RUN_WORKFLOW
    ]


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_the_versioned_workers_workflows_replay_the_same_histories() -> None:
    # Versioned workers register same-named subclasses declaring their versioning behavior.
    versioned = Replayer(
        workflows=versioned_workflows(),
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=DATA_CONVERTER,
    )
    for path in committed():
        result = await versioned.replay_workflow(history(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, path.stem


async def _replay_all(workflows: list[type], runner: Any) -> dict[str, Exception]:
    """The failures of replaying every committed history on ``workflows`` under ``runner``."""

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in committed():
            yield history(path)

    results = await Replayer(
        workflows=workflows, workflow_runner=runner, data_converter=DATA_CONVERTER
    ).replay_workflows(histories(), raise_on_replay_failure=False)
    return results.replay_failures


async def test_committed_histories_replay_in_the_workflow_sandbox() -> None:
    # The sandbox re-imports the workflows' modules with restrictions (no I/O, no wall clock,
    # no randomness outside the workflow API): code the unsandboxed workers would run quietly.
    assert await _replay_all(ALL_WORKFLOWS, SandboxedWorkflowRunner()) == {}


async def test_the_sandbox_refuses_what_an_unsandboxed_replay_lets_through() -> None:
    workflows = [RunWorkflowReadingTheClock, *(w for w in ALL_WORKFLOWS if w is not RunWorkflow)]
    assert await _replay_all(workflows, UnsandboxedWorkflowRunner()) == {}
    failures = await _replay_all(workflows, SandboxedWorkflowRunner())
    run_ids = {history(path).run_id for path in run_histories()}
    assert set(failures) == run_ids
    assert all("datetime.datetime.now" in str(f) for f in failures.values())


# Deliberately incompatible changes to RunWorkflow, registered under its name: runs in flight
# (the committed histories) cannot replay on them, and the replay test must say so.


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflowWithATimer(RunWorkflow):
    """Waits a second before its first super-step."""

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcomeSummary:
        await workflow.sleep(1)
        return await super().run(inp)


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflowWithAnotherActivity(RunWorkflow):
    """Runs its super-steps as a differently named activity."""

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcomeSummary:
        return await super().run(inp)

    async def _step(self, inp: RunInput, step: StepInput) -> StepResult:
        result: StepResult = await workflow.execute_local_activity(
            "graphyard.step_v2",
            step,
            result_type=StepResult,
            start_to_close_timeout=inp.policy.start_to_close,
        )
        return result


@pytest.mark.parametrize("changed", [RunWorkflowWithATimer, RunWorkflowWithAnotherActivity])
async def test_an_incompatible_change_fails_the_replay(changed: type) -> None:
    changed_replayer = Replayer(
        workflows=[changed, *(w for w in ALL_WORKFLOWS if w is not RunWorkflow)],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=DATA_CONVERTER,
    )
    paths = run_histories()
    assert len(paths) >= 18
    for path in paths:
        result = await changed_replayer.replay_workflow(
            history(path), raise_on_replay_failure=False
        )
        assert isinstance(result.replay_failure, NondeterminismError), path.stem


# The approval and failing runs have a webhook: delivered after a resumed run's end; failing
# every attempt (then recorded as failed) after a dead run's end, before its workflow fails.
CASES = [
    ("chain", {"steps": []}, None),
    ("approval", {"request": "ship"}, "delivered"),
    ("failing", {}, "failed"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    # Few steps per history: the chain's run continues as new, its last history is recorded.
    [
        {
            "step_activity": kind,
            "run_steps_per_history": 4,
            "webhook_max_attempts": 2,
            "webhook_initial_retry_interval": 0.05,
        }
        for kind in ("local", "regular")
    ],
    ids=["local", "regular"],
    indirect=True,
)
async def test_runs_replay_without_a_workflow_cache(api: Stack, graphs: GraphRegistry) -> None:
    kind = api.settings.step_activity
    async with (
        receiving() as receiver,
        receiving(then=500) as failing,
        running_worker(api.settings, api.temporal, graphs, max_cached_workflows=0),
    ):
        for graph, inp, webhook in CASES:
            url = failing.url if webhook == "failed" else receiver.url
            hook = {"webhook": url} if webhook else {}
            thread = await api.client.threads.create()
            if graph == "chain":
                # The run below then queues in the thread's workflow, behind the second run
                # (which waits for the first: it was in flight before that workflow existed).
                for _ in range(2):
                    await api.client.runs.create(thread["thread_id"], graph, input=inp)
            await api.client.runs.wait(
                thread["thread_id"], graph, input=inp, raise_error=False, **hook
            )
            if graph == "approval":
                # Waits at its interrupt, then resumes by signal: both in one history.
                await api.client.runs.wait(thread["thread_id"], graph, command={"resume": True})
            run = (await api.client.runs.list(thread["thread_id"]))[0]
            assert run["status"] == ("error" if graph == "failing" else "success")
            handle = api.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()  # its webhook delivered: the whole history
            history = await handle.fetch_history()
            result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None
            recorded = {graph: history}
            if graph == "chain":
                thread_handle = api.temporal.get_workflow_handle(
                    thread_workflow_id(thread["thread_id"])
                )
                recorded["thread"] = await thread_handle.fetch_history()
                result = await replayer().replay_workflow(
                    recorded["thread"], raise_on_replay_failure=False
                )
                assert result.replay_failure is None
            if graph == "chain":
                recorded["cron"] = await _cron_firing(api, thread["thread_id"])
            if webhook:
                # The delivery is a workflow of its own, started by the run's.
                (delivery,) = [
                    e.child_workflow_execution_started_event_attributes.workflow_execution
                    for e in history.events
                    if e.HasField("child_workflow_execution_started_event_attributes")
                ]
                hook_handle = api.temporal.get_workflow_handle(delivery.workflow_id)
                await hook_handle.result()
                recorded[f"webhook-{webhook}"] = await hook_handle.fetch_history()
                result = await replayer().replay_workflow(
                    recorded[f"webhook-{webhook}"], raise_on_replay_failure=False
                )
                assert result.replay_failure is None
                run = await api.client.runs.get(thread["thread_id"], run["run_id"])
                assert run["webhook_delivery"]["status"] == webhook
            if graph == "chain":
                recorded["cancelled"] = await _cancelled(api)
            if RECORD:
                for name, events in recorded.items():
                    (HISTORIES / f"{TAG}-{name}-{kind}.json").write_text(
                        json.dumps(events.to_json_dict(), indent=1)
                    )


async def _cancelled(api: Stack) -> WorkflowHistory:
    """The history of a run cancelled while its node awaits (its step stops on the request
    heard from Postgres), checked to replay."""
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    run = await api.client.runs.create(tid, "slow_chain", input={"steps": [], "pause": 30})
    await api.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s", (tid,))
    await api.client.runs.cancel(tid, run["run_id"], wait=True)
    handle = api.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))
    await handle.result()
    history = await handle.fetch_history()
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    return history


async def _cron_firing(api: Stack, thread_id: str) -> WorkflowHistory:
    """The history of one firing of a cron (triggered now), checked to replay."""
    cron = await api.client.crons.create_for_thread(
        thread_id, "chain", schedule="0 0 1 1 *", input={"steps": []}
    )
    schedule = api.temporal.get_schedule_handle(schedule_id(cron["cron_id"]))
    await schedule.trigger()
    actions: list[Any] = []
    for _ in range(200):  # the trigger is asynchronous
        actions = (await schedule.describe()).info.recent_actions
        if actions:
            break
        await asyncio.sleep(0.05)
    firing = api.temporal.get_workflow_handle(actions[0].action.workflow_id)
    await firing.result()
    history = await firing.fetch_history()
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    await api.client.crons.delete(cron["cron_id"])
    return history
