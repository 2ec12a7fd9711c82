"""Run status comes from the workflows: a live run row whose workflow says otherwise is put
right when it is read (no sweeper, no heartbeating rows).

A run's workflow writes every status change itself, so rows and workflows only disagree after
what no workflow code sees: a workflow terminated (or timed out) in Temporal, an API process
that died between writing a run's row and starting its workflow, a thread workflow terminated
with runs still queued in it. Rows untouched for ``reconcile_after`` are checked against
Temporal when a client reads them (get, list, wait, join, stream), so these end or go on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.service import RPCError, RPCStatusCode

from graphyard.runs import start as run_start
from graphyard.runs.backends import Services
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage.db import notify_channel
from graphyard.telemetry import metrics
from graphyard.types import START_SIGNAL, run_workflow_id

Row = dict[str, Any]

_CLOSED = {
    WorkflowExecutionStatus.TERMINATED: "WorkflowTerminated",
    WorkflowExecutionStatus.TIMED_OUT: "WorkflowTimedOut",
    WorkflowExecutionStatus.CANCELED: "WorkflowCanceled",
    WorkflowExecutionStatus.FAILED: "WorkflowFailed",
}


def _live(row: Row) -> bool:
    return row["status"] in ("pending", "running") or bool(row.get("waiting"))


async def reconciled(services: Services, row: Row) -> Row:
    """``row`` as its workflow has it (the row is rewritten when they disagree)."""
    age = datetime.now(UTC) - row["updated_at"]
    if not _live(row) or age < services.settings.reconcile_after:
        return row
    handle = services.temporal.get_workflow_handle(run_workflow_id(str(row["run_id"])))
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # Never started (its API died after writing the row): start it now. Idempotent:
            # a run that exists meanwhile is kept.
            await run_start.start(services, row, created=False)
        return row  # Temporal unreachable: the row stands until it can be checked
    if description.status == WorkflowExecutionStatus.RUNNING:
        if row["status"] == "pending":
            await _release_if_first(services, row)
        return row
    name = _CLOSED.get(description.status) if description.status else None
    if name is None:
        return row
    return await _end(services, row, name, await _reason(handle))


async def reconciled_all(services: Services, rows: list[Row]) -> list[Row]:
    return [await reconciled(services, r) if _live(r) else r for r in rows]


async def _reason(handle: WorkflowHandle[Any, Any]) -> str:
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        terminated = event.workflow_execution_terminated_event_attributes
        if terminated.reason:
            return f": {terminated.reason}"
    return ""


async def _release_if_first(services: Services, row: Row) -> None:
    """A queued run waits for its thread workflow's ``start`` signal; if that workflow is gone
    (terminated by hand) and no earlier run of the thread is live, give the signal here."""
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            """
            SELECT 1 FROM runs WHERE thread_id = %s AND created_at < %s
              AND (status IN ('pending', 'running') OR waiting) LIMIT 1
            """,
            (row["thread_id"], row["created_at"]),
        )
        if await cur.fetchone() is not None:
            return
    handle = services.temporal.get_workflow_handle(run_workflow_id(str(row["run_id"])))
    try:
        await handle.signal(START_SIGNAL)
    except RPCError:
        return  # it ended meanwhile


async def _end(services: Services, row: Row, name: str, reason: str) -> Row:
    """End a run whose workflow closed without writing its end: ``error``, saying how."""
    run_id, thread_id = str(row["run_id"]), str(row["thread_id"])
    error = {"error": name, "message": f"the run's workflow closed in Temporal{reason}"}
    done = {"status": "run_done", "run_id": run_id}
    async with services.pool.connection() as conn, conn.transaction():
        cur = await run_rows.finish(
            conn,
            run_id,
            status="error",
            output={"__error__": error},
            error=error,
            last_events=[
                event_log.event("error", error),
                event_log.event(event_log.RUN_DONE, done),
            ],
        )
        if await cur.fetchone() is not None:
            metrics.RUNS_RECONCILED.inc()
        await conn.execute(
            """
            UPDATE threads SET status = 'error', updated_at = now()
            WHERE thread_id = %s AND NOT EXISTS (
                SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id
                  AND (status IN ('pending', 'running') OR waiting))
            """,
            (thread_id,),
        )
        wake = f"{run_id} {event_log.wake_keys(run_id, thread_id)}"
        await conn.execute("SELECT pg_notify(%s, %s)", (notify_channel(services.settings), wake))
        ended = await run_rows.get(conn, run_id)
    return ended or row
