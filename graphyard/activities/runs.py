"""``finish_run``: the end of a run that failed or was cancelled (a run that ends normally is
ended by its last super-step, one activity fewer), and ``end_run``, which both write through
``runs/end.py`` (``write_end``) and follow with what only a worker does: metrics, a stateless
run's checkpoints deleted, the run's kwargs dropped from the cache."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from graphyard.activities.context import WorkerContext
from graphyard.runs.end import RunEnd, write_end
from graphyard.runs.kwargs import RunKwargs
from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.telemetry import metrics
from graphyard.types import ACTIVE_STATUSES, FINISH_ACTIVITY, FinishInput, RunRef


async def end_run(
    ctx: WorkerContext,
    run: RunRef,
    kwargs: RunKwargs,
    end: RunEnd,
    *,
    pause: bool = False,
    delete: bool = False,
) -> None:
    """Write the run's end once (idempotent), refresh its thread, wake waiting requests.
    ``pause``: the run stopped at an interrupt and waits for its answer instead; ``delete``:
    the run is rolled back, its row goes in the same transaction (whoever the end wakes must
    not find it)."""
    webhook = ctx.delivers_webhook(kwargs)
    # Pipelined: the whole transaction costs one round trip to Postgres.
    async with ctx.pool.connection() as conn:
        async with conn.pipeline(), conn.transaction():
            written = await write_end(
                conn, ctx.notify_channel, run, kwargs, end, pause=pause, webhook=webhook
            )
            if delete:
                await run_rows.delete(conn, run.run_id)
        await _count_end(run, end, written, pause)
    if kwargs.temporary and not pause:
        await ctx.saver().adelete_thread(run.thread_id)
    if not pause:
        ctx.forget(run.run_id)


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
        await end_run(self.ctx, run, kwargs, end, delete=inp.action == "rollback")

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
            if row is not None and row["status"] in ACTIVE_STATUSES:
                await checkpoint_rows.delete_run_checkpoints(conn, run.thread_id, run.run_id)
