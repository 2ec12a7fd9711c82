"""The terminal write of a run: run status and result, thread status and values, a notification."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from graphyard.activities.context import WorkerContext
from graphyard.serde import interrupt_json, to_jsonable
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.types import FINISH_ACTIVITY, FinishInput


class RunActivities:
    """Run status writes, bound to a worker's shared resources."""

    def __init__(self, ctx: WorkerContext, notify_channel: str) -> None:
        self.ctx = ctx
        self.notify_channel = notify_channel

    @activity.defn(name=FINISH_ACTIVITY)
    async def finish_run(self, inp: FinishInput) -> None:
        run = inp.run
        kwargs = await self.ctx.run_kwargs(run)
        config = kwargs.runnable_config(run)
        graph = await self.ctx.graph(run, config)
        state = await graph.aget_state(config)
        values = to_jsonable(state.values)
        interrupts = {
            task.id: [interrupt_json(i, stream=False) for i in task.interrupts]
            for task in state.tasks
            if task.interrupts
        }
        error = to_jsonable(inp.error) if inp.error else None
        output: Any
        if error is not None:
            output = {"__error__": error}
        elif state.interrupts:
            base = values if isinstance(values, dict) else {}
            output = {
                **base,
                "__interrupt__": [interrupt_json(i, stream=True) for i in state.interrupts],
            }
        else:
            output = values
        if inp.status == "error":
            thread_status = "error"
        elif state.next:
            thread_status = "interrupted"
        else:
            thread_status = "idle"
        async with self.ctx.pool.connection() as conn, conn.transaction():
            await run_rows.finish(conn, run.run_id, status=inp.status, output=output, error=error)
            if kwargs.temporary:
                await thread_rows.delete_row(conn, run.thread_id)
            else:
                await thread_rows.record_run_end(
                    conn,
                    run.thread_id,
                    status=thread_status,
                    values=values,
                    interrupts=interrupts,
                    error=error,
                    config={"configurable": kwargs.config.get("configurable") or {}},
                )
            await conn.execute("SELECT pg_notify(%s, %s)", (self.notify_channel, run.run_id))
        if kwargs.temporary and graph.checkpointer:
            await graph.checkpointer.adelete_thread(run.thread_id)  # type: ignore[union-attr]
        self.ctx.forget(run.run_id)
