"""Zero-downtime rollout on Worker Deployment versioning, with real worker processes: runs in
flight finish on the build they started on, new runs go to the current build, a ramp splits
them, rollback returns them, and a thread's next run on a new build carries its state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.common import VersioningBehavior
from temporalio.workflow import _Definition

from graphyard.config import Settings
from graphyard.deploy import Deployer, render
from graphyard.errors import DeployError
from graphyard.graphs import load_config
from graphyard.types import run_workflow_id
from graphyard.versioning import default_build_id
from graphyard.workflows import ALL_WORKFLOWS, versioned_workflows
from tests.processes import worker_env, worker_process
from tests.stack import TEST_CONFIG, Stack

pytestmark = pytest.mark.slow

WAITING = 49  # runs waiting at an interrupt during the switch, beside one blocked mid-graph


def versioned(settings: Settings, build_id: str, *, bootstrap: bool = False) -> Settings:
    return settings.model_copy(
        update={
            "deployment_name": f"dep-{settings.database_schema[2:]}",
            "build_id": build_id,
            "deployment_bootstrap": bootstrap,
        }
    )


async def builds_of(stack: Stack, run_id: str) -> set[str]:
    """The builds whose workers completed the run's workflow tasks (its local steps run in
    them); a failed workflow task (a non-determinism error among them) fails the test. The run
    is ended in Postgres by its last step, inside the workflow task that ran it: the workflow
    is awaited, so that task's completion is in the history."""
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    await handle.result()
    history = await handle.fetch_history()
    builds = set()
    for event in history.events:
        assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, event
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            builds.add(event.workflow_task_completed_event_attributes.deployment_version.build_id)
    return builds


async def new_run(stack: Stack, graph: str = "chain", **kwargs: Any) -> str:
    """A run on a new thread, finished: its run_id."""
    thread = await stack.client.threads.create()
    run = await stack.client.runs.create(thread["thread_id"], graph, **kwargs)
    await stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"])).result()
    return str(run["run_id"])


async def new_runs_on(stack: Stack, count: int) -> Counter[str]:
    """How many of ``count`` new runs ran on each build."""
    run_ids = await asyncio.gather(*(new_run(stack, input={"steps": []}) for _ in range(count)))
    builds = [await builds_of(stack, run_id) for run_id in run_ids]
    assert all(len(b) == 1 for b in builds), builds
    return Counter(b.pop() for b in builds)


async def registered(deployer: Deployer, build_id: str) -> None:
    """Wait until a worker of ``build_id`` polled and its deployment knows it."""
    for _ in range(240):
        status = None
        with contextlib.suppress(DeployError):
            status = await deployer.status()
        if status and any(b.build_id == build_id and b.workers for b in status.builds):
            return
        # Temporal limits the requests per deployment: poll gently.
        await asyncio.sleep(0.25)
    raise AssertionError(f"build {build_id} never polled")


async def state_of(deployer: Deployer, build_id: str) -> tuple[str, int]:
    status = await deployer.status()
    (build,) = (b for b in status.builds if b.build_id == build_id)
    return (f"ramping {build.ramp:g}%" if build.ramp is not None else build.state), build.open_runs


async def until_state(deployer: Deployer, build_id: str, expected: tuple[str, int]) -> None:
    """Visibility (open run counts) is eventually consistent: poll for a few seconds."""
    for _ in range(40):
        with contextlib.suppress(DeployError):  # no deployment before its first poll
            if await state_of(deployer, build_id) == expected:
                return
        await asyncio.sleep(0.25)
    assert await state_of(deployer, build_id) == expected


async def test_rollout_pins_runs_ramps_and_rolls_back(api: Stack, tmp_path: Path) -> None:
    settings = api.settings
    v1 = default_build_id(load_config(TEST_CONFIG))
    deployer = Deployer(
        api.temporal,
        settings.temporal_namespace,
        versioned(settings, v1).deployment_name,
        settings.task_queue,
    )
    logs, alive = tmp_path / "workers.log", tmp_path / "alive"
    with pytest.raises(DeployError, match="no worker with GRAPHYARD_DEPLOYMENT_NAME"):
        await deployer.status()
    first = versioned(settings, "", bootstrap=True)
    with worker_process(first.model_copy(update={"worker_health_file": alive}), logs):
        # v1 (its build ID the hash of the graph code) is the deployment's first build: it
        # makes itself current.
        await until_state(deployer, v1, ("current", 0))
        with pytest.raises(DeployError, match="build 'v9' is not known"):
            await deployer.set_current("v9")
        with pytest.raises(DeployError, match="nothing to roll back to"):
            await deployer.rollback()
        with pytest.raises(DeployError, match="between 0 and 100"):
            await deployer.ramp(v1, 150)
        # The worker touches its health file while it polls (an exec probe checks its age).
        assert time.time() - alive.stat().st_mtime < 10

        # In flight at the switch: one run blocked mid-graph, 49 waiting at an interrupt.
        long_thread = (await api.client.threads.create())["thread_id"]
        long_run = await api.client.runs.create(long_thread, "counted", input={"gate": "c2"})
        await api.wait_rows(
            "SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c2'", (long_thread,)
        )
        waiting = [(await api.client.threads.create())["thread_id"] for _ in range(WAITING)]
        await asyncio.gather(
            *(api.client.runs.wait(t, "approval", input={"request": "ship"}) for t in waiting)
        )
        waiting_runs = [(await api.client.runs.list(t))[0] for t in waiting]
        assert {run["status"] for run in waiting_runs} == {"interrupted"}

        # v2 would make itself current too, if the deployment had no current build.
        with worker_process(versioned(settings, "v2", bootstrap=True), logs):
            await registered(deployer, "v2")
            for _ in range(100):
                if f"is {v1}: build v2 takes new runs once" in logs.read_text():
                    break
                await asyncio.sleep(0.1)
            assert await state_of(deployer, "v2") == ("inactive", 0)
            started = time.monotonic()
            switched = await deployer.set_current("v2")
            answered = time.monotonic()
            first = await new_run(api, input={"steps": []})
            took, rpc = time.monotonic() - started, answered - started
            assert await builds_of(api, first) == {"v2"}
            print(
                f"\nset-current v2 -> first new run (a 10-step chain) finished on v2: "
                f"{took * 1000:.0f} ms (the command {rpc * 1000:.0f} ms, the run "
                f"{(took - rpc) * 1000:.0f} ms)"
            )
            print(switched)
            await until_state(deployer, v1, ("draining", WAITING + 1))

            # The thread's next run queues behind its run in flight (its thread workflow, which
            # auto-upgrades, starts it as a child): it starts on v2, pinned there.
            follow_up = await api.client.runs.create(
                long_thread, "counted", input={}, multitask_strategy="enqueue"
            )
            assert await new_runs_on(api, 5) == {"v2": 5}

            api.sql("INSERT INTO gates VALUES (%s)", (long_thread,))
            await api.client.runs.join(long_thread, long_run["run_id"])
            result = await api.client.runs.join(long_thread, follow_up["run_id"])
            assert await builds_of(api, long_run["run_id"]) == {v1}
            assert await builds_of(api, follow_up["run_id"]) == {"v2"}
            # v2 loaded the checkpoint v1 wrote: the conversation carried across the deploy.
            assert result["steps"] == [f"c{i}" for i in range(5)] * 2

            answers = await asyncio.gather(
                *(api.client.runs.wait(t, "approval", command={"resume": True}) for t in waiting)
            )
            assert {a["outcome"] for a in answers} == {"done: plan for: ship"}
            for run in waiting_runs:
                assert await builds_of(api, run["run_id"]) == {v1}
            await until_state(deployer, v1, ("draining", 0))

            with worker_process(versioned(settings, "v3"), logs):
                await registered(deployer, "v3")
                print(await deployer.ramp("v3", 50))
                split = await new_runs_on(api, 20)
                print(f"20 new runs during the ramp: {dict(split)}")
                assert set(split) == {"v2", "v3"}, split
                cli = subprocess.run(
                    [sys.executable, "-m", "graphyard", "deploy", "status"],
                    env=worker_env(versioned(settings, "")),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                print(cli.stdout)
                assert "ramping 50%" in cli.stdout
                assert await state_of(deployer, "v2") == ("current", 0)

                # The first rollback stops the ramp; the second brings back the build that
                # was current before v2.
                print(await deployer.rollback())
                assert await new_runs_on(api, 5) == {"v2": 5}
                rolled = subprocess.run(
                    [sys.executable, "-m", "graphyard", "deploy", "rollback"],
                    env=worker_env(versioned(settings, "")),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                assert f"current build of {deployer.deployment}: {v1} (was v2)" in rolled.stdout
                assert await new_runs_on(api, 5) == {v1: 5}
                print(render(await deployer.status()))

    assert not alive.exists()
    statuses = api.sql("SELECT status, count(*) AS n FROM runs GROUP BY status")
    assert statuses == [{"status": "success", "n": WAITING + 2 + 1 + 5 + 20 + 5 + 5}]
    failed = await api.temporal.count_workflows(
        f'TaskQueue = "{settings.task_queue}" AND ExecutionStatus != "Completed" '
        'AND ExecutionStatus != "Running"'
    )
    assert failed.count == 0


def test_deploy_without_a_deployment_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRAPHYARD_DEPLOYMENT_NAME"}
    cli = subprocess.run(
        [sys.executable, "-m", "graphyard", "deploy", "status"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1
    assert "pass --deployment or set GRAPHYARD_DEPLOYMENT_NAME" in cli.stderr


def test_build_id_is_a_hash_of_the_graph_code(tmp_path: Path) -> None:
    (tmp_path / "g.py").write_text("graph = None\n")
    (tmp_path / "langgraph.json").write_text('{"graphs": {"g": "./g.py:graph"}}')
    config = load_config(tmp_path / "langgraph.json")
    first = default_build_id(config)
    assert first == default_build_id(config)
    assert first.startswith("0.1.0-")
    (tmp_path / "g.py").write_text("graph = 1\n")
    assert default_build_id(config) != first


def test_only_versioned_workers_declare_versioning_behaviors() -> None:
    # Temporal refuses workflow tasks completed with a behavior by unversioned workers.
    for cls in ALL_WORKFLOWS:
        assert _Definition.must_from_class(cls).versioning_behavior == (
            VersioningBehavior.UNSPECIFIED
        )
    behaviors = {
        d.name: d.versioning_behavior
        for d in map(_Definition.must_from_class, versioned_workflows())
    }
    assert behaviors == {
        "RunWorkflow": VersioningBehavior.PINNED,
        "ThreadWorkflow": VersioningBehavior.AUTO_UPGRADE,
        "CronWorkflow": VersioningBehavior.AUTO_UPGRADE,
        "WebhookWorkflow": VersioningBehavior.AUTO_UPGRADE,
    }
