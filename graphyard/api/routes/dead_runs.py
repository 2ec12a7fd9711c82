"""The dead-letter queue: runs that ended ``error``, and re-driving one from its last
checkpoint (``graphyard runs dead | retry``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps, RunId, check_uuid
from graphyard.api.models import DeadRun, Run, returns
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import MAX_OFFSET, run_json
from graphyard.errors import Conflict, Unavailable
from graphyard.runs.backends import Services
from graphyard.runs.start import run_input, start_run_workflow
from graphyard.storage import dead_runs
from graphyard.storage import runs as run_rows
from graphyard.storage.db import notify_channel
from graphyard.types import run_workflow_id

router = APIRouter(tags=["runs"], route_class=BodyRoute)

# How long a dead run's workflow may take to fail after its end was written.
_CLOSING = 10.0


@router.get("/runs/dead", **returns(list[DeadRun]))
async def list_dead(
    services: Deps,
    auth: AuthDep,
    graph_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    """Runs that ended ``error``, newest first, each with its error record: type, message,
    the super-step that failed and how many attempts it took."""
    value = {"thread_id": None, "status": "error", "limit": limit, "offset": offset}
    scope = await auth.authorize("threads", "search", {**value, "metadata": None})
    async with services.pool.connection() as conn:
        found = await dead_runs.listed(
            conn, graph_id=graph_id, limit=limit, offset=offset, scope=scope
        )
    return [{**run_json(r), "error": r["error"]} for r in found]


@router.post("/runs/{run_id}/retry", **returns(Run))
async def retry(run_id: RunId, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """Run a dead run again, as the same run, from its thread's last checkpoint: completed
    super-steps do not run again. Only the thread's newest run can go again. Auth:
    ``threads.update``."""
    run_id = check_uuid(run_id, "run")
    scope = await auth.authorize("threads", "update", {"thread_id": None, "run_id": run_id})
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
    return run_json(after)


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
