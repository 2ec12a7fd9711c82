"""``GET /metrics``: this API process's Prometheus metrics (not in the OpenAPI document)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from graphyard.api.deps import Deps
from graphyard.api.routing import BodyRoute
from graphyard.runs.backends import Services
from graphyard.storage import runs as run_rows
from graphyard.telemetry import metrics

router = APIRouter(route_class=BodyRoute)
log = logging.getLogger(__name__)


async def _count_live_runs(services: Services) -> None:
    async with services.pool.connection() as conn:
        counts = await run_rows.count_live(conn)
    for status, count in counts.items():
        metrics.LIVE_RUNS.labels(status).set(count)


@router.get("/metrics", include_in_schema=False)
async def prometheus(services: Deps) -> Response:
    """The API's metrics, with the live runs counted now. If Postgres does not answer, the
    live counts are left out rather than served stale."""
    try:
        await asyncio.wait_for(_count_live_runs(services), timeout=5)
    except Exception as exc:
        log.warning("metrics: could not count live runs: %s", exc)
        metrics.LIVE_RUNS.clear()
    return Response(generate_latest(metrics.API), media_type=CONTENT_TYPE_LATEST)
