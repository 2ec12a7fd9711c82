"""The thread-centric streaming protocol (``client.threads.stream``): commands over HTTP, events
over SSE, both over a WebSocket. The protocol itself lives in ``graphyard.api.protocol.v2``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, WebSocket
from langchain_protocol import CommandResponse, ErrorResponse
from sse_starlette import EventSourceResponse
from starlette.responses import Response

from graphyard.api import sse
from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps, RunHeaders, ThreadId, check_uuid
from graphyard.api.models import EVENT_STREAM, returns
from graphyard.api.protocol.v2 import commands, session, source
from graphyard.api.protocol.v2.subscription import Filter, Invalid
from graphyard.api.responses import JSON
from graphyard.api.routes.threads import load_thread
from graphyard.api.routing import BodyRoute
from graphyard.errors import BadRequest
from graphyard.serde import dumps_str

router = APIRouter(tags=["threads"], route_class=BodyRoute)
# WebSockets authenticate their upgrade request themselves (session.serve).
sockets = APIRouter()


@router.post("/threads/{thread_id}/commands", **returns(CommandResponse | ErrorResponse))
async def command(
    thread_id: ThreadId,
    payload: Annotated[Any, Body()],
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
) -> Response:
    """One protocol command (``run.start``, ``input.respond``, ``agent.getTree``,
    ``subscription.*``) and its response; a refused command answers 200 with the protocol's
    error response, a payload that is no command 400."""
    thread_id = check_uuid(thread_id, "thread")
    refused = commands.envelope_error(payload)
    if refused is not None:
        return JSON(refused, status_code=400)
    ctx = commands.Context(services, auth, thread_id, headers)
    return JSON(await commands.dispatch(ctx, payload))


@router.post(
    "/threads/{thread_id}/stream/events", response_class=EventSourceResponse, **EVENT_STREAM
)
async def stream_events(
    thread_id: ThreadId, body: Annotated[Any, Body()], services: Deps, auth: AuthDep
) -> EventSourceResponse:
    """The thread's protocol events the body (``EventStreamRequest``: channels, namespaces,
    depth, ``since``) selects, from the start of its run in flight (or last run), or after
    ``since``; followed live until the client leaves."""
    try:
        wanted = Filter.parse(body)
    except Invalid as exc:
        raise BadRequest(str(exc)) from None
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    thread_id = str((await load_thread(services, thread_id, scope))["thread_id"])

    async def frames() -> Any:
        # Found once the response began: a client that opens streams in a hurry (the SDK
        # widening its filter) gets each one's headers without waiting on the log.
        after = await source.start_of(services, thread_id, since=wanted.since)
        async for event in source.follow(services, thread_id, after=after, since=wanted.since):
            if wanted.matches(event):
                yield sse.frame(event["method"], dumps_str(event), event["seq"])

    return sse.response(frames(), services, {})


@sockets.websocket("/threads/{thread_id}/stream/events")
async def thread_socket(websocket: WebSocket, thread_id: str) -> None:
    """Commands and events on one socket (credentials: the upgrade request's headers)."""
    await session.serve(websocket, thread_id)


@sockets.websocket("/threads/{thread_id}/runs/{run_id}/protocol")
async def run_socket(websocket: WebSocket, thread_id: str, run_id: str) -> None:
    """As the thread's socket, its subscriptions reading from the start of ``run_id``."""
    await session.serve(websocket, thread_id, run_id)
