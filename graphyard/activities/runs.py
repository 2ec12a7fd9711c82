"""The terminal write of a run: run status and result, thread status and values, a notification.

Runs that end normally are ended by their last super-step activity (one activity fewer per
run); errors end through ``finish_run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.types import StateSnapshot
from psycopg import AsyncCursor
from psycopg.rows import DictRow
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from graphyard.activities.context import RunKwargs, WorkerContext
from graphyard.serde import interrupt_json, to_jsonable
from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.runs import Conn
from graphyard.telemetry import metrics
from graphyard.types import FINISH_ACTIVITY, FinishInput, RunRef, RunStatus


@dataclass(frozen=True)
class RunEnd:
    """Everything the terminal write needs, as JSON-ready values."""

    status: RunStatus
    values: Any
    next: list[str]
    interrupts: dict[str, list[dict[str, Any]]]  # by task id, as threads show them
    stream_interrupts: list[dict[str, Any]]  # as wait/join bodies show them
    error: dict[str, Any] | None = None

    @classmethod
    def from_state(
        cls, state: StateSnapshot, status: RunStatus, error: dict[str, Any] | None = None
    ) -> RunEnd:
        return cls(
            status=status,
            values=to_jsonable(state.values),
            next=list(state.next),
            interrupts={
                task.id: [interrupt_json(i, stream=False) for i in task.interrupts]
                for task in state.tasks
                if task.interrupts
            },
            stream_interrupts=[interrupt_json(i, stream=True) for i in state.interrupts],
            error=error,
        )

    @property
    def output(self) -> Any:
        """The body of wait/join: final values, plus ``__interrupt__``; or ``__error__``."""
        if self.error is not None:
            return {"__error__": self.error}
        if self.status == "interrupted":
            return {}  # a cancelled run answers wait/join with {}, as the reference does
        if self.stream_interrupts:
            base = self.values if isinstance(self.values, dict) else {}
            return {**base, "__interrupt__": self.stream_interrupts}
        return self.values

    def last_events(self, run_id: str) -> list[event_log.Event]:
        """An ``error`` event if the run failed, then the marker that ends its stream."""
        out = [event_log.event("error", self.error)] if self.error is not None else []
        out.append(event_log.event(event_log.RUN_DONE, {"status": "run_done", "run_id": run_id}))
        return out

    @property
    def thread_status(self) -> str:
        if self.status == "error":
            return "error"
        return "interrupted" if self.next else "idle"


async def end_run(
    ctx: WorkerContext, run: RunRef, kwargs: RunKwargs, end: RunEnd, *, pause: bool = False
) -> None:
    """Write the run's end once (idempotent), refresh its thread, wake waiting requests.
    ``pause``: the run stopped at an interrupt and waits for its answer instead."""
    webhook = ctx.delivers_webhook(kwargs)
    # Pipelined: the whole transaction costs one round trip to Postgres.
    async with ctx.pool.connection() as conn:
        async with conn.pipeline(), conn.transaction():
            written = await _write_end(ctx, conn, run, kwargs, end, pause, webhook)
        await _count_end(run, end, written, pause)
    if kwargs.temporary and not pause:
        await ctx.saver().adelete_thread(run.thread_id)
    if not pause:
        ctx.forget(run.run_id)


async def _write_end(
    ctx: WorkerContext,
    conn: Conn,
    run: RunRef,
    kwargs: RunKwargs,
    end: RunEnd,
    pause: bool,
    webhook: bool,
) -> AsyncCursor[DictRow]:
    """The statements of a run's end; the first one's cursor tells whether it ended now."""
    if pause:
        marker = event_log.event(event_log.RUN_PAUSED, {"run_id": run.run_id})
        written = await run_rows.pause(conn, run.run_id, output=end.output, last_events=[marker])
    else:
        written = await run_rows.finish(
            conn,
            run.run_id,
            status=end.status,
            output=end.output,
            error=end.error,
            last_events=end.last_events(run.run_id),
            webhook=webhook,
            values=end.values if webhook else None,
        )
    if kwargs.temporary and not pause:
        await thread_rows.delete_row(conn, run.thread_id)
    else:
        await thread_rows.record_run_end(
            conn,
            run.thread_id,
            status=end.thread_status,
            values=end.values,
            interrupts=end.interrupts,
            error=end.error,
            config={"configurable": kwargs.config.get("configurable") or {}},
        )
    # Wakes wait/join (the run id) and stream followers (its events, its thread's).
    wake = f"{run.run_id} {event_log.wake_keys(run.run_id, run.thread_id)}"
    await conn.execute("SELECT pg_notify(%s, %s)", (ctx.notify_channel, wake))
    return written


async def _count_end(run: RunRef, end: RunEnd, written: AsyncCursor[DictRow], pause: bool) -> None:
    """Metrics of a run's end, counted once: by the write that ended (or paused) the run."""
    if pause:
        if written.rowcount > 0:
            metrics.RUNS_PAUSED.labels(run.graph_id).inc()
        return
    ended = await written.fetchone()
    if ended is not None:
        metrics.RUNS_FINISHED.labels(run.graph_id, end.status).inc()
        metrics.RUN_DURATION.labels(run.graph_id, end.status).observe(ended["seconds"])


class RunActivities:
    """Run status writes, bound to a worker's shared resources."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=FINISH_ACTIVITY)
    async def finish_run(self, inp: FinishInput) -> None:
        run = inp.run
        kwargs = await self.ctx.run_kwargs(run)
        config = kwargs.runnable_config(run)
        if inp.action == "rollback":
            await self._roll_back(run)
        error = inp.error.as_json() if inp.error else None
        try:
            async with self.ctx.graph(run, config, context=kwargs.context) as graph:
                state = await graph.aget_state(config)
        except (ApplicationError, ValidationError) as exc:
            if isinstance(exc, ApplicationError) and exc.type != "GraphLoadError":
                raise
            # The run must end even when its graph does not load, or when its pydantic state
            # schema refuses the state (the input a failed run left): the thread keeps its
            # values. Retrying cannot help, and this write retries without a cap.
            end = await self._end_without_graph(run, inp, error)
        else:
            end = RunEnd.from_state(state, inp.status, error)
        await end_run(self.ctx, run, kwargs, end)
        if inp.action == "rollback":
            async with self.ctx.pool.connection() as conn:
                await run_rows.delete(conn, run.run_id)

    async def _end_without_graph(
        self, run: RunRef, inp: FinishInput, error: dict[str, Any] | None
    ) -> RunEnd:
        async with self.ctx.pool.connection() as conn:
            thread = await thread_rows.get(conn, run.thread_id)
        values = thread["values"] if thread is not None else None
        return RunEnd(inp.status, values, [], {}, [], error)

    async def _roll_back(self, run: RunRef) -> None:
        """Delete what a cancelled run checkpointed, unless it already ended on its own."""
        async with self.ctx.pool.connection() as conn:
            row = await run_rows.get(conn, run.run_id)
            if row is not None and row["status"] in ("pending", "running"):
                await checkpoint_rows.delete_run_checkpoints(conn, run.thread_id, run.run_id)
