"""Starting a run's workflow: directly when its thread is idle, through the thread's workflow
(signal-with-start) when runs are in flight. The run's row exists already (``submit``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from graphyard.errors import Unavailable
from graphyard.runs import rules
from graphyard.runs.backends import Backends
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.temporal import step_policy, webhook_policy
from graphyard.types import (
    RUN_WORKFLOW,
    SUBMIT_SIGNAL,
    THREAD_WORKFLOW,
    RunInput,
    RunRef,
    SubmitRun,
    ThreadInput,
    run_search_attributes,
    run_workflow_id,
    thread_search_attributes,
    thread_workflow_id,
)

Row = dict[str, Any]


def run_input(services: Backends, row: Row) -> RunInput:
    """The workflow input of the run in ``row`` (its ids and the graph's step policy)."""
    kwargs = row["kwargs"]
    graph_id = kwargs["config"]["configurable"]["graph_id"]
    deadline = (kwargs["config"].get("configurable") or {}).get(rules.INTERRUPT_TIMEOUT_KEY)
    return RunInput(
        run=RunRef(
            run_id=str(row["run_id"]),
            thread_id=str(row["thread_id"]),
            assistant_id=str(row["assistant_id"]),
            graph_id=graph_id,
            after_run_id=kwargs.get("after_run_id"),
        ),
        policy=step_policy(services.settings, services.graphs.get(graph_id).retry),
        interrupt_timeout=rules.interrupt_timeout(deadline),
        steps_per_history=services.settings.run_steps_per_history,
        webhook=webhook_policy(services.settings)
        if kwargs.get("webhook") and not services.graphs.config.project.http.disable_webhooks
        else None,
    )


async def start_run_workflow(
    services: Backends,
    run: RunInput,
    *,
    delay: timedelta | None = None,
    # Same run_id, same workflow: a repeated submission never executes twice.
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.REJECT_DUPLICATE,
) -> None:
    """Start ``run-<run_id>`` (an existing open one is kept)."""
    settings = services.settings
    ref = run.run
    await services.temporal.start_workflow(
        RUN_WORKFLOW,
        run,
        id=run_workflow_id(ref.run_id),
        task_queue=settings.task_queue,
        id_reuse_policy=reuse,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_delay=delay,
        # A worker that dies mid-task is noticed after this long (local steps run inside it).
        task_timeout=settings.workflow_task_timeout,
        static_summary=f"graph {ref.graph_id} · thread {ref.thread_id}",
        search_attributes=run_search_attributes(ref) if settings.search_attributes else None,
    )


async def start(services: Backends, row: Row, *, created: bool) -> None:
    """Start the run's workflow. A run that found its thread idle starts directly (the fast
    path). One that found runs in flight goes to its thread's
    workflow, which starts a busy thread's runs one at a time, in order, after applying the
    run's multitask strategy to those in flight."""
    settings = services.settings
    kwargs = row["kwargs"]
    delay = timedelta(seconds=kwargs["after_seconds"]) if kwargs.get("after_seconds") else None
    run = run_input(services, row)
    ref = run.run
    in_flight = kwargs.get("in_flight") or []
    try:
        if row["multitask_strategy"] is None or not in_flight:
            await start_run_workflow(services, run, delay=delay)
        else:
            # Signal-with-start: creating a run never waits for a worker.
            await services.temporal.start_workflow(
                THREAD_WORKFLOW,
                ThreadInput(ref.thread_id, settings.thread_runs_per_history),
                id=thread_workflow_id(ref.thread_id),
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=SUBMIT_SIGNAL,
                start_signal_args=[
                    SubmitRun(replace(run, delay=delay), row["multitask_strategy"], in_flight)
                ],
                task_timeout=settings.workflow_task_timeout,
                static_summary=f"thread {ref.thread_id}",
                search_attributes=thread_search_attributes(ref.thread_id)
                if settings.search_attributes
                else None,
            )
    except WorkflowAlreadyStartedError:
        pass  # it ran (and closed) already
    except RPCError as exc:
        if created:
            async with services.pool.connection() as conn, conn.transaction():
                await run_rows.delete(conn, ref.run_id)
                await thread_rows.release_busy(conn, ref.thread_id)
        raise Unavailable(f"could not start the run on Temporal: {exc.message}") from exc
