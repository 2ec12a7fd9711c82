"""What both protocols do with a call: an ordinary durable run (``create_run``: the same
admission, auth, secret check and idempotency as ``POST /runs``), waited for through the run
waiter as ``/runs/wait`` waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from graphyard.api.auth import RequestAuth
from graphyard.api.auth.runs import admit_run
from graphyard.api.run_headers import configurable_headers
from graphyard.runs.backends import Services
from graphyard.runs.reconcile import reconciled
from graphyard.runs.request import RunCreate
from graphyard.runs.resume import Submitted
from graphyard.runs.submit import create_run
from graphyard.storage import assistants as assistant_rows
from graphyard.storage import runs as run_rows
from graphyard.storage.rows import AssistantRow, RunRow

# Assistants listed as tools / reachable by name: the reference's bound too.
MAX_ASSISTANTS = 1000


async def visible_assistants(services: Services, auth: RequestAuth) -> list[AssistantRow]:
    """The assistants ``assistants.search`` lets the caller see, oldest first."""
    value: dict[str, Any] = {"graph_id": None, "metadata": None, "limit": MAX_ASSISTANTS}
    scope = await auth.authorize("assistants", "search", {**value, "offset": 0})
    async with services.pool.connection() as conn:
        found, _total = await assistant_rows.search(
            conn,
            graph_id=None,
            metadata=None,
            name=None,
            limit=MAX_ASSISTANTS,
            offset=0,
            sort_by="created_at",
            sort_order="asc",
            scope=scope,
        )
    return found


async def start_run(
    services: Services,
    auth: RequestAuth,
    request: Request,
    body: RunCreate,
    thread_id: str | None,
    idempotency_key: str | None = None,
) -> Submitted:
    """Create (or resume, or for a repeated key find) a run as the REST API would."""
    body, caller = await admit_run(auth, body, thread_id)
    return await create_run(
        services,
        body,
        thread_id=thread_id,
        idempotency_key=idempotency_key,
        caller=caller,
        headers=configurable_headers(request),
    )


async def load_run(services: Services, run_id: str) -> RunRow | None:
    """The run's row, reconciled with its workflow when that closed without saying so."""
    async with services.pool.connection() as conn:
        found = await run_rows.get(conn, run_id)
    return await reconciled(services, found) if found is not None else None


async def wait_run(services: Services, run_id: str) -> RunRow | None:
    """The run's row once it ended or waits at an interrupt (``None`` if it vanished)."""
    tick = services.settings.wait_keepalive_seconds
    async for event in services.waiter.until_done(run_id, lambda: load_run(services, run_id), tick):
        if event is not None:
            return event.row
    return None


def answer_when_done(
    services: Services, run_id: str, answer: Callable[[RunRow | None], Awaitable[bytes]]
) -> StreamingResponse:
    """A JSON response written when the run is done, led by newlines while it runs (legal
    JSON whitespace, as ``/runs/wait`` sends): proxies and clients' read timeouts see a live
    connection however long the run takes."""

    async def body() -> AsyncIterator[bytes]:
        tick = services.settings.wait_keepalive_seconds
        fetch = lambda: load_run(services, run_id)  # noqa: E731
        async for event in services.waiter.until_done(run_id, fetch, tick):
            if event is None:
                yield b"\n"
            else:
                yield await answer(event.row)

    return StreamingResponse(body(), media_type="application/json")
