"""Starting a run's workflow: directly when its thread is idle, through the thread's workflow
(signal-with-start) when runs are in flight. The run's row exists already (``submit``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import (
    QueryRejectCondition,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from graphyard.errors import Unavailable
from graphyard.runs import rules
from graphyard.runs.backends import Backends
from graphyard.runs.kwargs import RunKwargs
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.rows import RunRow
from graphyard.temporal import step_policy, webhook_policy
from graphyard.types import (
    CANCEL_SIGNAL,
    HOLDS_QUERY,
    RUN_WORKFLOW,
    SUBMIT_SIGNAL,
    THREAD_WORKFLOW,
    CancelInput,
    MultitaskStrategy,
    RunInput,
    RunRef,
    SubmitRun,
    ThreadInput,
    run_search_attributes,
    run_workflow_id,
    thread_search_attributes,
    thread_workflow_id,
)


def run_input(services: Backends, row: RunRow, kwargs: RunKwargs | None = None) -> RunInput:
    """The workflow input of the run in ``row`` (its ids and the graph's step policy);
    ``kwargs``: the row's, if read already."""
    kwargs = kwargs or RunKwargs.of(row)
    graph_id = kwargs.graph_id
    deadline = kwargs.configurable.get(rules.INTERRUPT_TIMEOUT_KEY)
    return RunInput(
        run=RunRef(
            run_id=str(row["run_id"]),
            thread_id=str(row["thread_id"]),
            assistant_id=str(row["assistant_id"]),
            graph_id=graph_id,
        ),
        policy=step_policy(services.settings, services.graphs.get(graph_id).retry),
        interrupt_timeout=rules.interrupt_timeout(deadline),
        steps_per_history=services.settings.run_steps_per_history,
        webhook=webhook_policy(services.settings)
        if kwargs.webhook and not services.graphs.config.project.http.disable_webhooks
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
        # Started now, it is running as far as Temporal can tell: tagged so, its workflow
        # does not pay an upsert (a billable action) to say it. Only a delayed run is pending.
        search_attributes=run_search_attributes(ref, "pending" if delay else "running")
        if settings.search_attributes
        else None,
    )


async def start(services: Backends, row: RunRow, *, created: bool) -> None:
    """Start the run's workflow. A run that found its thread idle starts directly (the fast
    path). One that found runs in flight goes to its thread's workflow, which starts a busy
    thread's runs one at a time, in order, after applying the run's multitask strategy to those
    in flight. ``created``: this request wrote the row (a failed start then removes it)."""
    kwargs = RunKwargs.of(row)
    run = run_input(services, row, kwargs)
    try:
        if row["multitask_strategy"] is None or not kwargs.in_flight:
            await start_run_workflow(services, run, delay=_delay(kwargs))
        else:
            strategy = row["multitask_strategy"]
            await _submit(services, run, strategy, kwargs.in_flight, _delay(kwargs))
    except WorkflowAlreadyStartedError:
        pass  # it ran (and closed) already
    except RPCError as exc:
        if created:
            async with services.pool.connection() as conn, conn.transaction():
                await run_rows.delete(conn, run.run.run_id)
                await thread_rows.release_busy(conn, run.run.thread_id)
        raise Unavailable(f"could not start the run on Temporal: {exc.message}") from exc


async def restart(services: Backends, row: RunRow) -> None:
    """Start a live run that has no workflow: its API died between writing its row and
    starting it, or the thread's workflow that held it back was terminated. A thread's run goes
    through the thread's workflow, behind the thread's runs created before it (which it waits
    for, wherever they run); a run whose cancel was asked for meanwhile takes it there."""
    if row["multitask_strategy"] is None:
        await start(services, row, created=False)
        return
    kwargs = RunKwargs.of(row)
    run = run_input(services, row, kwargs)
    run_id, thread_id = run.run.run_id, run.run.thread_id
    if await _held(services, thread_id, run_id):
        return  # waiting for its turn in its thread's workflow: nothing is lost
    async with services.pool.connection() as conn:
        before = await thread_rows.runs_in_flight_before(conn, thread_id, run_id)
    await _submit(services, run, "enqueue", before, _delay(kwargs))
    if row.get("cancel_requested_at") is not None:
        await services.temporal.get_workflow_handle(thread_workflow_id(thread_id)).signal(
            CANCEL_SIGNAL, CancelInput(action="interrupt", run_id=run_id)
        )


async def _held(services: Backends, thread_id: str, run_id: str) -> bool:
    """Whether the thread's workflow holds the run (asked without adding to its history: a
    client polling a queued run must not grow it)."""
    handle = services.temporal.get_workflow_handle(thread_workflow_id(thread_id))
    try:
        held: bool = await handle.query(
            HOLDS_QUERY,
            run_id,
            result_type=bool,
            # A closed (terminated) one answers from its last state: it holds nothing now.
            reject_condition=QueryRejectCondition.NOT_OPEN,
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return False  # gone, closed, or an older build: hand the run over (idempotent)
    return held


def _delay(kwargs: RunKwargs) -> timedelta | None:
    """The run's ``after_seconds``."""
    return timedelta(seconds=kwargs.after_seconds) if kwargs.after_seconds else None


async def _submit(
    services: Backends,
    run: RunInput,
    strategy: MultitaskStrategy,
    in_flight: list[str],
    delay: timedelta | None,
) -> None:
    """Hand the run to its thread's workflow, starting that if need be (signal-with-start:
    creating a run never waits for a worker)."""
    settings = services.settings
    thread_id = run.run.thread_id
    await services.temporal.start_workflow(
        THREAD_WORKFLOW,
        ThreadInput(thread_id, settings.thread_runs_per_history),
        id=thread_workflow_id(thread_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=SUBMIT_SIGNAL,
        start_signal_args=[SubmitRun(replace(run, delay=delay), strategy, in_flight)],
        task_timeout=settings.workflow_task_timeout,
        static_summary=f"thread {thread_id}",
        search_attributes=thread_search_attributes(thread_id)
        if settings.search_attributes
        else None,
    )
