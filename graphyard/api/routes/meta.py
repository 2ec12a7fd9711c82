"""Health and server information."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from graphyard import __version__
from graphyard.api.deps import Deps
from graphyard.api.models import Health, Info, returns
from graphyard.api.responses import JSON
from graphyard.api.routing import BodyRoute
from graphyard.runs.backends import Services

router = APIRouter(tags=["meta"], route_class=BodyRoute)

# Temporal lists a poller for a while after it last polled; a live worker re-polls at least
# every minute (long polls), so anything older is not a live worker.
_POLLER_FRESHNESS = timedelta(seconds=90)


async def _postgres(services: Services) -> bool:
    async with services.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return True


async def _temporal(services: Services) -> bool:
    return await services.temporal.service_client.check_health()


async def _worker(services: Services) -> bool:
    response = await services.temporal.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=services.settings.temporal_namespace,
            task_queue=TaskQueue(name=services.settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    cutoff = datetime.now(UTC) - _POLLER_FRESHNESS
    return any(p.last_access_time.ToDatetime(UTC) >= cutoff for p in response.pollers)


async def _check(probe: Any, services: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(probe(services), timeout=5))
    except Exception:
        return False


@router.get("/ok", **returns(Health))
@router.get("/", include_in_schema=False)
async def ok(services: Deps) -> JSON:
    """200 only when Postgres, Temporal and at least one worker are ready; 503 otherwise."""
    postgres, temporal, worker = await asyncio.gather(
        _check(_postgres, services), _check(_temporal, services), _check(_worker, services)
    )
    checks = {"api": True, "postgres": postgres, "temporal": temporal, "worker": worker}
    healthy = all(checks.values())
    return JSON({"ok": healthy, "services": checks}, status_code=200 if healthy else 503)


@router.get("/info", **returns(Info))
async def info() -> dict[str, Any]:
    """The server's version, the langgraph version it runs, and the feature flags and host fields
    clients read, in the reference server's shape."""
    return {
        "version": __version__,
        "langgraph_py_version": version("langgraph"),
        "flags": {
            "assistants": True,
            "crons": False,
            "langsmith": False,
            "langsmith_tracing_replicas": False,
            "langsmith_tracing_session_on_runs": False,
        },
        "host": {
            "kind": "graphyard",
            "project_id": None,
            "host_revision_id": None,
            "revision_id": None,
            "tenant_id": None,
        },
    }
