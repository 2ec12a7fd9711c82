"""One LangGraph super-step, run from the thread's latest checkpoint with the Postgres saver.

A retried or replayed step must never run a completed node again. The workflow therefore
passes the checkpoint it expects the thread to be at; if the thread is already past it (the
step ran before a crash), the activity only reports where the thread stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.exceptions import ApplicationError

from graphyard.activities.context import WorkerContext
from graphyard.activities.publish import StepPublisher
from graphyard.activities.runs import end_run
from graphyard.activities.saver import GuardedSaver
from graphyard.activities.step_errors import no_retry_fixes
from graphyard.activities.step_lock import Held
from graphyard.activities.step_stop import unless_stopped
from graphyard.activities.stream_modes import StepStream, graph_chunks
from graphyard.runs.end import RunEnd
from graphyard.runs.kwargs import RunKwargs, command_input
from graphyard.serde import to_jsonable
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.telemetry import metrics
from graphyard.telemetry.nodes import NodeSpans
from graphyard.types import STEP_ACTIVITY, RunRef, StepInput, StepOutcome, StepResult

log = logging.getLogger(__name__)


def _matches(nodes: list[str], breakpoints: list[str] | str | None) -> bool:
    if not breakpoints or not nodes:
        return False
    if breakpoints == "*":
        return True
    return any(node in breakpoints for node in nodes)


def _outcome(kwargs: RunKwargs, nodes: list[str], nxt: list[str], interrupted: bool) -> StepOutcome:
    if interrupted:
        return "interrupted"
    if not nxt:
        return "done"
    if _matches(nodes, kwargs.interrupt_after) or _matches(nxt, kwargs.interrupt_before):
        return "interrupted"
    return "continue"


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat a regular activity while it runs, so a dead worker is noticed in seconds."""
    info = activity.info()
    if info.is_local or not info.heartbeat_timeout:
        yield
        return
    interval = max(info.heartbeat_timeout.total_seconds() / 3, 0.1)

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def _unstick() -> None:
    """A retried regular step has most likely outlived its worker (a heartbeat timeout): send
    the run's next workflow task to the task queue, not to that worker's sticky queue, where it
    would wait ``sticky_schedule_to_start_timeout`` for a poller that is gone. (If the worker
    lives, it costs one replay of the run's short history.)"""
    info = activity.info()
    if info.is_local or info.attempt == 1 or info.workflow_id is None:
        return
    execution = WorkflowExecution(workflow_id=info.workflow_id, run_id=info.workflow_run_id or "")
    request = ResetStickyTaskQueueRequest(namespace=info.namespace, execution=execution)
    try:
        await activity.client().workflow_service.reset_sticky_task_queue(request)
    except Exception as exc:  # only a shortcut: the task still arrives, later
        log.warning("could not reset the sticky queue of %s: %s", info.workflow_id, exc)


class StepActivities:
    """The super-step activity, bound to a worker's shared resources."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=STEP_ACTIVITY)
    async def step(self, inp: StepInput) -> StepResult:
        """Run one super-step; when it is the run's last, also write the run's end."""
        graph_id = inp.run.graph_id
        if activity.info().attempt > 1:
            metrics.STEP_RETRIES.labels(graph_id).inc()
        started, outcome = time.monotonic(), "error"
        try:
            result = await unless_stopped(self.ctx, inp, self._step(inp))
            outcome = "replayed" if result.replayed else result.outcome
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            metrics.STEP_DURATION.labels(graph_id, outcome).observe(time.monotonic() - started)

    async def _step(self, inp: StepInput) -> StepResult:
        await _unstick()
        # The guard below reads the thread's checkpoint: no other attempt of this step may be
        # running meanwhile (step_lock.py says when one is).
        locks = self.ctx.step_locks
        async with _heartbeating(), locks.hold(inp.run.thread_id, inp.run.graph_id) as held:
            return await self._guarded_step(inp, held)

    async def _guarded_step(self, inp: StepInput, held: Held) -> StepResult:
        run = inp.run
        kwargs = await self.ctx.run_kwargs(
            run, start=inp.index == 0, refresh=inp.command is not None
        )
        config = kwargs.runnable_config(run)
        saver = GuardedSaver(self.ctx.pool)
        async with self.ctx.graph(run, config, saver, kwargs.context) as graph:
            result = await self._step_with(graph, inp, kwargs, config, saver, held.carried)
        if result.outcome == "continue" and activity.info().is_local:
            # The run's next step comes to this process (a local activity runs where its
            # workflow runs): keep the lock for it, with the checkpoint it starts from.
            held.keep(saver.written)
        return result

    async def _step_with(
        self,
        graph: Pregel[Any, Any, Any, Any],
        inp: StepInput,
        kwargs: RunKwargs,
        config: RunnableConfig,
        saver: GuardedSaver,
        carried: Any,
    ) -> StepResult:
        run = inp.run
        # The checkpoint this process's previous step wrote, the lock held since: when it is
        # the one the workflow expects, the step does not read it (its first write checks).
        known = (
            carried
            if inp.index > 0
            and inp.command is None
            and isinstance(carried, CheckpointTuple)
            and carried.config["configurable"]["checkpoint_id"] == inp.expected_checkpoint_id
            else None
        )
        latest = await saver.latest(config, known)
        if inp.index == 0:
            if latest is not None and latest.metadata.get("run_id") == run.run_id:
                return await self._report(graph, config, run, kwargs, inp)
            graph_input = kwargs.graph_input()
            step_config = kwargs.runnable_config(run, fork=True)
        else:
            current = latest.config["configurable"]["checkpoint_id"] if latest else None
            # A run waiting at an interrupt resumes from the thread's state even if a human
            # edited it meanwhile (update_state); otherwise a moved thread means "already ran".
            edited = (
                inp.command is not None and latest and latest.metadata.get("source") == "update"
            )
            if current != inp.expected_checkpoint_id and not edited:
                return await self._report(graph, config, run, kwargs, inp)
            graph_input = command_input(asdict(inp.command)) if inp.command else None
            step_config = config
        if self.ctx.trace_nodes:
            # A span per node, under this activity's span.
            spans = NodeSpans(run, inp.index)
            given = step_config.get("callbacks")  # a run's config is JSON: a list or nothing
            callbacks = [*given, spans] if isinstance(given, list) else [spans]
            step_config = cast(RunnableConfig, {**step_config, "callbacks": callbacks})
        if inp.command is not None:
            # Resumed straight through Temporal (the CLI, the UI): the run is running again.
            async with self.ctx.pool.connection() as conn:
                await run_rows.resume(conn, run.run_id)
        if inp.index - inp.segment >= kwargs.recursion_limit:
            raise ApplicationError(
                f"Recursion limit of {kwargs.recursion_limit} reached without hitting a stop "
                "condition. You can increase the limit by setting the `recursion_limit` config "
                "key.",
                {"step": inp.index, "attempt": activity.info().attempt},
                type="GraphRecursionError",
                non_retryable=True,
            )
        publisher = StepPublisher(
            self.ctx.pool, self.ctx.notify_channel, run, inp.index, saver.quiet
        )
        # Events reach Postgres in the transaction of the step's held checkpoint and task writes
        # (one round trip for all), never after a write that followed them: a step that crashes
        # after a write has streamed everything up to it.
        saver.events = publisher.lend
        try:
            async with publisher:
                result, values = await self._run(
                    graph,
                    graph_input,
                    step_config,
                    kwargs,
                    publisher,
                    saver,
                    continuing=inp.index > 0 and inp.command is None,
                )
        except Exception as exc:
            # A failed task's error and its siblings' results are kept for the retry, which
            # then runs only the failed task (if this fails too, the retry runs them all).
            try:
                await saver.write_pending()
            except Exception as lost:
                log.warning("could not keep the writes of step %s: %s", inp.index, lost)
            final = no_retry_fixes(exc, self.ctx.graphs, run.graph_id)
            # The attempt travels with the failure: the run's dead-letter record counts them.
            raise ApplicationError(
                str(exc),
                {"step": inp.index, "attempt": activity.info().attempt},
                type=type(exc).__name__,
                non_retryable=final,
            ) from exc
        if result.outcome == "done":
            end = RunEnd("success", to_jsonable(values), [], {}, [])
            await end_run(self.ctx, run, kwargs, end)
        elif result.outcome == "interrupted":
            state = await graph.aget_state(config)
            end = RunEnd.from_state(state, "success")
            await end_run(self.ctx, run, kwargs, end, pause=inp.pause)
            result = replace(result, interrupts=[i.id for i in state.interrupts])
        return result

    async def _run(
        self,
        graph: Pregel[Any, Any, Any, Any],
        graph_input: Any,
        config: RunnableConfig,
        kwargs: RunKwargs,
        publisher: StepPublisher,
        saver: GuardedSaver,
        *,
        continuing: bool,
    ) -> tuple[StepResult, Any]:
        nodes: list[str] = []
        interrupted = False
        checkpoint: dict[str, Any] | None = None
        stream = StepStream(list(kwargs.stream_mode), continuing=continuing)
        # interrupt_after="*" makes one call run exactly one super-step (the first call also
        # applies the input); the workflow decides whether to take the next one.
        chunks = graph_chunks(
            graph,
            graph_input,
            config,
            stream,
            context=kwargs.context,
            subgraphs=kwargs.subgraphs,
            interrupt_after="*",
            interrupt_before=kwargs.interrupt_before,
            durability="sync",
        )
        async for ns, mode, data in chunks:
            if mode == "events":
                await publisher.emit("events", data)
                continue
            if not ns:
                if mode == "checkpoints":
                    checkpoint = cast(dict[str, Any], data)
                elif mode == "updates":
                    for key, value in cast(dict[str, Any], data).items():
                        if key == "__interrupt__":
                            interrupted = interrupted or bool(value)
                        else:
                            nodes.append(key)
            for name, payload in stream.convert(ns, mode, data):
                await publisher.emit(name, payload)
        # The task writes no checkpoint took (a node's interrupt): the state read below and
        # the next step need them.
        await saver.write_pending()
        if checkpoint is None:
            state = await graph.aget_state(config)
            result = self._summary(state, kwargs, nodes, interrupted)
            values = state.values
        else:
            nxt = list(checkpoint["next"])
            result = StepResult(
                checkpoint_id=checkpoint["config"]["configurable"]["checkpoint_id"],
                step=int(checkpoint["metadata"].get("step", -1)),
                nodes=nodes,
                next=nxt,
                outcome=_outcome(kwargs, nodes, nxt, interrupted),
            )
            values = checkpoint["values"]
        # A breakpoint's empty __interrupt__ is streamed; the stepping's own is not.
        at_breakpoint = result.outcome == "interrupted" and not interrupted
        for name, payload in stream.close(at_breakpoint=at_breakpoint):
            await publisher.emit(name, payload)
        return result, values

    @staticmethod
    def _summary(
        state: StateSnapshot, kwargs: RunKwargs, nodes: list[str], interrupted: bool
    ) -> StepResult:
        nxt = list(state.next)
        return StepResult(
            checkpoint_id=(state.config.get("configurable") or {}).get("checkpoint_id"),
            step=int((state.metadata or {}).get("step", -1)),
            nodes=nodes,
            next=nxt,
            outcome=_outcome(kwargs, nodes, nxt, interrupted or bool(state.interrupts)),
        )

    async def _report(
        self,
        graph: Pregel[Any, Any, Any, Any],
        config: RunnableConfig,
        run: RunRef,
        kwargs: RunKwargs,
        inp: StepInput,
    ) -> StepResult:
        """Where the thread stands, without running anything (this step ran before a crash);
        a run found at its end (or pause) is ended again (the write is idempotent)."""
        state = await graph.aget_state(config)
        summary = self._summary(state, kwargs, [], False)
        result = replace(summary, replayed=True, attempt=activity.info().attempt)
        if result.outcome != "continue":
            end = RunEnd.from_state(state, "success")
            await end_run(self.ctx, run, kwargs, end, pause=inp.pause and result.outcome != "done")
            result = replace(result, interrupts=[i.id for i in state.interrupts])
        else:
            async with self.ctx.pool.connection() as conn:
                await event_log.mark_retry(
                    conn,
                    self.ctx.notify_channel,
                    run_id=run.run_id,
                    thread_id=run.thread_id,
                    step=inp.index,
                )
        return result
