"""Re-driving a dead run (``POST /runs/{run_id}/retry``, ``graphyard runs retry``): the same
run, from its thread's last checkpoint, so completed super-steps do not run again."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from graphyard.errors import Conflict, Unavailable
from graphyard.runs.backends import Services
from graphyard.runs.start import run_input, start_run_workflow
from graphyard.storage import dead_runs
from graphyard.storage import runs as run_rows
from graphyard.storage.db import notify_channel
from graphyard.storage.filters import Scope
from graphyard.storage.rows import RunRow
from graphyard.types import run_workflow_id

# How long a dead run's workflow may take to fail after its end was written.
_CLOSING = 10.0


async def retry_dead_run(services: Services, run_id: str, scope: Scope) -> RunRow:
    """Reopen the dead run ``run_id`` (visible in ``scope``) and start its workflow again;
    the reopened row. Only the thread's newest run can go again."""
    async with services.pool.connection() as conn:
        dead_runs.ensure_dead(await run_rows.get(conn, run_id, scope=scope), run_id)
    await _check_workflow_failed(services, run_id)
    channel = notify_channel(services.settings)
    async with services.pool.connection() as conn, conn.transaction():
        before, after = await dead_runs.reopen(conn, channel, run_id)
    try:
        # Failed IDs only: Temporal itself refuses to run a completed run again.
        await start_run_workflow(
            services,
            run_input(services, after),
            reuse=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except (RPCError, WorkflowAlreadyStartedError) as exc:
        async with services.pool.connection() as conn, conn.transaction():
            await dead_runs.restore(conn, channel, before)
        if isinstance(exc, WorkflowAlreadyStartedError):
            raise Conflict(f"Run {run_id}'s workflow did not fail: it cannot run again.") from exc
        raise Unavailable(f"could not start the run on Temporal: {exc.message}") from exc
    return after


async def _check_workflow_failed(services: Services, run_id: str) -> None:
    """Refuse before touching the row what Temporal would refuse: a run whose workflow is
    open, or completed (runs that ended ``error`` before dead runs failed their workflow)."""
    handle = services.temporal.get_workflow_handle(run_workflow_id(run_id))
    try:
        status = (await handle.describe()).status
        if status == WorkflowExecutionStatus.RUNNING:
            # Its end is written (the row says error): the workflow fails right after.
            with contextlib.suppress(WorkflowFailureError, TimeoutError):
                await asyncio.wait_for(handle.result(), _CLOSING)
            status = (await handle.describe()).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return  # past Temporal's retention, or never started: it may start afresh
        raise Unavailable(f"could not reach Temporal: {exc.message}") from exc
    if status == WorkflowExecutionStatus.RUNNING:
        raise Conflict(f"Run {run_id}'s workflow is still open: it has not ended yet.")
    if status == WorkflowExecutionStatus.COMPLETED:
        raise Conflict(
            f"Run {run_id}'s workflow completed: it can no longer run again; create a new run."
        )
