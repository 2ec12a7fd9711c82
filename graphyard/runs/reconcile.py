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

from graphyard.runs.backends import Services
from graphyard.runs.end import RunEnd, write_end
from graphyard.runs.kwargs import RunKwargs
from graphyard.runs.start import restart, run_input
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.db import notify_channel
from graphyard.storage.rows import RunRow
from graphyard.storage.statuses import is_live
from graphyard.telemetry import metrics
from graphyard.types import run_workflow_id

_CLOSED = {
    WorkflowExecutionStatus.TERMINATED: "WorkflowTerminated",
    WorkflowExecutionStatus.TIMED_OUT: "WorkflowTimedOut",
    WorkflowExecutionStatus.CANCELED: "WorkflowCanceled",
    WorkflowExecutionStatus.FAILED: "WorkflowFailed",
}


async def reconciled(services: Services, row: RunRow) -> RunRow:
    """``row`` as its workflow has it (the row is rewritten when they disagree)."""
    age = datetime.now(UTC) - row["updated_at"]
    if not is_live(row) or age < services.settings.reconcile_after:
        return row
    handle = services.temporal.get_workflow_handle(run_workflow_id(str(row["run_id"])))
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # Never started: its API died after writing the row, or the thread's workflow
            # that held it back is gone. Idempotent: a run started meanwhile is kept.
            await restart(services, row)
        return row  # Temporal unreachable: the row stands until it can be checked
    name = _CLOSED.get(description.status) if description.status else None
    if name is None:
        return row
    return await _end(services, row, name, await _reason(handle))


async def reconciled_all(services: Services, rows: list[RunRow]) -> list[RunRow]:
    return [await reconciled(services, r) if is_live(r) else r for r in rows]


async def _reason(handle: WorkflowHandle[Any, Any]) -> str:
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        terminated = event.workflow_execution_terminated_event_attributes
        if terminated.reason:
            return f": {terminated.reason}"
    return ""


async def _end(services: Services, row: RunRow, name: str, reason: str) -> RunRow:
    """End a run whose workflow closed without writing its end: ``error``, saying how; its
    thread keeps the values it has."""
    run = run_input(services, row).run
    error = {"error": name, "message": f"the run's workflow closed in Temporal{reason}"}
    async with services.pool.connection() as conn, conn.transaction():
        thread = await thread_rows.get(conn, run.thread_id)
        end = RunEnd("error", thread["values"] if thread else None, [], {}, [], error)
        cur = await write_end(conn, notify_channel(services.settings), run, RunKwargs.of(row), end)
        if await cur.fetchone() is not None:
            metrics.RUNS_RECONCILED.inc()
        ended = await run_rows.get(conn, run.run_id)
    return ended or row
