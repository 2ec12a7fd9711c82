"""The dead-letter queue: runs that ended ``error``, and re-driving one from its last
checkpoint (``graphyard runs dead | retry``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps, RunId, check_uuid
from graphyard.api.models import DeadRun, Run, returns
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import MAX_OFFSET, run_json
from graphyard.runs.retry import retry_dead_run
from graphyard.storage import dead_runs

router = APIRouter(tags=["runs"], route_class=BodyRoute)


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
    return run_json(await retry_dead_run(services, run_id, scope))
