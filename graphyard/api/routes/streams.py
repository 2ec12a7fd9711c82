"""Streams: create a run and stream it, join a run's stream, follow a thread."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from graphyard.api import sse
from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.auth.runs import admit_run
from graphyard.api.deps import Deps, RunHeaders, RunId, ThreadId, check_uuid
from graphyard.api.models import EVENT_STREAM
from graphyard.api.routes.threads import load_thread
from graphyard.api.routing import BodyRoute
from graphyard.errors import NotFound
from graphyard.runs.backends import Services
from graphyard.runs.cancel import cancel_in_background
from graphyard.runs.request import RunCreate
from graphyard.runs.submit import create_run
from graphyard.storage import runs as rows
from graphyard.storage.rows import RunRow

router = APIRouter(tags=["runs"], route_class=BodyRoute)
STREAM = {"response_class": EventSourceResponse, **EVENT_STREAM}

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
StreamModeQuery = Annotated[list[str] | None, Query()]


def _run_stream(
    services: Services,
    row: RunRow,
    *,
    after: int = 0,
    modes: set[str] | None = None,
    cancel_on_disconnect: bool = False,
    stateless: bool = False,
) -> EventSourceResponse:
    run_id = str(row["run_id"])
    path = f"/runs/{run_id}" if stateless else f"/threads/{row['thread_id']}/runs/{run_id}"
    body = sse.follow_run(
        services,
        run_id,
        after=after,
        keep=sse.run_event_filter(modes),
        on_abandon=(lambda: cancel_in_background(services, run_id, str(row["thread_id"])))
        if cancel_on_disconnect
        else None,
    )
    return sse.response(body, services, {"Location": f"{path}/stream", "Content-Location": path})


@router.post("/threads/{thread_id}/runs/stream", **STREAM)
async def create_and_stream(
    thread_id: ThreadId,
    body: RunCreate,
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
    key: IdempotencyKey = None,
) -> EventSourceResponse:
    """Create a run on the thread and stream its events as SSE (those of its ``stream_mode``)
    until it ends. ``Location`` points at the run's stream, to rejoin with ``Last-Event-ID``;
    with ``on_disconnect: "cancel"`` the run is cancelled if the client leaves."""
    thread_id = check_uuid(thread_id, "thread")
    body, caller = await admit_run(auth, body, thread_id)
    submitted = await create_run(
        services, body, thread_id=thread_id, idempotency_key=key, caller=caller, headers=headers
    )
    # A resumed run streams its new segment only.
    after = submitted.resumed_from - 1 if submitted.resumed_from else 0
    return _run_stream(
        services, submitted.row, after=after, cancel_on_disconnect=body.on_disconnect == "cancel"
    )


@router.post("/runs/stream", **STREAM)
async def create_stateless_and_stream(
    body: RunCreate, services: Deps, auth: AuthDep, headers: RunHeaders, key: IdempotencyKey = None
) -> EventSourceResponse:
    """As ``POST /threads/{thread_id}/runs/stream``, on a new thread of the run's own (deleted
    after it unless ``on_completion: "keep"``); ``Location`` points at ``/runs/{run_id}/stream``."""
    body, caller = await admit_run(auth, body, None)
    submitted = await create_run(
        services, body, thread_id=None, idempotency_key=key, caller=caller, headers=headers
    )
    return _run_stream(
        services, submitted.row, cancel_on_disconnect=body.on_disconnect == "cancel", stateless=True
    )


async def _joined(
    services: Services,
    auth: RequestAuth,
    run_id: str,
    thread_id: str | None,
    last_event_id: str | None,
) -> tuple[RunRow, int]:
    after = sse.last_event_id(last_event_id)
    run_id = check_uuid(run_id, "run")
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id, "run_id": run_id})
    async with services.pool.connection() as conn:
        row = await rows.get(conn, run_id, thread_id, scope=scope)
    if row is None:
        raise NotFound("Run not found")
    return row, after


@router.get(
    "/threads/{thread_id}/runs/{run_id}/stream", response_class=EventSourceResponse, **EVENT_STREAM
)
async def join_stream(
    thread_id: ThreadId,
    run_id: RunId,
    services: Deps,
    auth: AuthDep,
    stream_mode: StreamModeQuery = None,
    cancel_on_disconnect: bool = False,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Replay the run's stream after ``Last-Event-ID`` (from the start without one), then
    follow it live to its end."""
    thread_id = check_uuid(thread_id, "thread")
    row, after = await _joined(services, auth, run_id, thread_id, last_event_id)
    return _run_stream(
        services,
        row,
        after=after,
        modes=sse.stream_modes(stream_mode),
        cancel_on_disconnect=cancel_on_disconnect,
    )


@router.get("/runs/{run_id}/stream", **STREAM)
async def join_stateless_stream(
    run_id: RunId,
    services: Deps,
    auth: AuthDep,
    stream_mode: StreamModeQuery = None,
    cancel_on_disconnect: bool = False,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """The stream of a stateless run (where ``POST /runs/stream`` points ``Location``)."""
    row, after = await _joined(services, auth, run_id, None, last_event_id)
    return _run_stream(
        services,
        row,
        after=after,
        modes=sse.stream_modes(stream_mode),
        cancel_on_disconnect=cancel_on_disconnect,
        stateless=True,
    )


@router.get("/threads/{thread_id}/stream", **STREAM)
async def join_thread_stream(
    thread_id: ThreadId,
    services: Deps,
    auth: AuthDep,
    stream_mode: StreamModeQuery = None,
    stream_modes: StreamModeQuery = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Every run of the thread as it comes (``run_modes``), or only their starts and ends
    (``lifecycle``), and state updates (``state_update``). Never ends on its own."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    thread = await load_thread(services, thread_id, scope)
    # The SDK sends stream_mode, the reference reads stream_modes: take either.
    modes = sse.thread_stream_modes((stream_modes or []) + (stream_mode or []))
    after = sse.last_event_id(last_event_id) if last_event_id is not None else None
    body = sse.follow_thread(services, str(thread["thread_id"]), after=after, modes=modes)
    return sse.response(body, services, {})
