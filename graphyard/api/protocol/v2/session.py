"""One WebSocket session of the protocol: commands and events on one socket.

Each ``subscription.subscribe`` starts a reader of the thread's event log (``source.follow``)
that sends the events its filter matches; the other commands go through ``commands.dispatch``
as over HTTP. A socket holds no state worth keeping: a client that reconnects (to any API
process) subscribes again with ``since`` and the log replays exactly what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Any

import orjson
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from starlette.requests import Request
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from graphyard.api.auth.context import RequestAuth
from graphyard.api.auth.dependency import authenticate
from graphyard.api.deps import check_uuid
from graphyard.api.protocol.v2 import commands, source
from graphyard.api.protocol.v2.subscription import Filter, Invalid
from graphyard.errors import GraphyardError, NotFound
from graphyard.runs.backends import Services
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows

log = logging.getLogger(__name__)

# Close codes for a refused upgrade (sent before accept: the client sees HTTP 403).
_POLICY = 1008
_SENT_WINDOW = 100_000


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def as_request(websocket: WebSocket) -> Request:
    """The upgrade request as the auth handlers read requests (headers, path, no body)."""
    return Request({**websocket.scope, "type": "http", "method": "GET"}, _no_body)


class Session:
    """The subscriptions of one socket, and the lock its sends share."""

    def __init__(self, websocket: WebSocket, ctx: commands.Context, run_id: str | None) -> None:
        self.websocket = websocket
        self.ctx = ctx
        self.run_id = run_id
        self._send_lock = asyncio.Lock()
        self._readers: dict[str, asyncio.Task[None]] = {}
        # An event goes down a socket once, whichever subscriptions match it: the client fans it
        # out to its own subscriptions (a late one re-sent the past would replay, say, the
        # ``interrupted`` that pauses the others after the answer).
        self._sent: set[str] = set()
        self._sent_order: deque[str] = deque()

    async def send(self, message: Any) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(message).decode())

    async def handle(self, raw: str) -> None:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.send(
                commands.error(None, "invalid_argument", "Protocol commands must be valid JSON.")
            )
            return
        refused = commands.envelope_error(payload)
        if refused is not None:
            await self.send(refused)
            return
        method, params = payload["method"], payload.get("params") or {}
        if method == "subscription.subscribe":
            await self.send(await self._subscribe(payload["id"], params))
        elif method == "subscription.unsubscribe":
            await self.send(await self._unsubscribe(payload["id"], params))
        else:
            await self.send(await commands.dispatch(self.ctx, payload))

    async def _subscribe(self, command_id: int, params: dict[str, Any]) -> Any:
        try:
            wanted = Filter.parse(params)
        except Invalid as exc:
            return commands.error(command_id, "invalid_argument", str(exc))
        try:
            after = await source.start_of(
                self.ctx.services, self.ctx.thread_id, since=wanted.since, run_id=self.run_id
            )
        except GraphyardError as exc:
            return commands.error(command_id, "invalid_argument", str(exc.detail))
        subscription_id = str(uuid.uuid4())
        self._readers[subscription_id] = asyncio.create_task(self._read(wanted, after))
        return {"type": "success", "id": command_id, "result": {"subscription_id": subscription_id}}

    async def _unsubscribe(self, command_id: int, params: dict[str, Any]) -> Any:
        reader = self._readers.pop(str(params.get("subscription_id")), None)
        if reader is None:
            return commands.error(command_id, "no_such_subscription", "No such subscription")
        reader.cancel()
        return {"type": "success", "id": command_id, "result": {}}

    async def _read(self, wanted: Filter, after: int) -> None:
        checked = False
        try:
            events = source.follow(
                self.ctx.services, self.ctx.thread_id, after=after, since=wanted.since
            )
            async for event in events:
                if not checked:
                    # The thread may not have existed at subscribe time (run.start makes it):
                    # its visibility is checked once it has something to show.
                    await _visible(self.ctx)
                    checked = True
                if wanted.matches(event) and self._first_time(event["event_id"]):
                    await self.send(event)
        except (GraphyardError, AuthHTTPException) as exc:
            with contextlib.suppress(Exception):
                await self.send(commands.error(None, "permission_denied", str(exc)))
        except (WebSocketDisconnect, RuntimeError):
            pass  # the socket went away under the reader

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._sent:
            return False
        self._sent.add(event_id)
        self._sent_order.append(event_id)
        if len(self._sent_order) > _SENT_WINDOW:
            self._sent.discard(self._sent_order.popleft())
        return True

    async def close(self) -> None:
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _visible(ctx: commands.Context) -> None:
    scope = await ctx.auth.authorize("threads", "read", {"thread_id": ctx.thread_id})
    async with ctx.services.pool.connection() as conn:
        if await thread_rows.get(conn, ctx.thread_id, scope=scope) is None:
            raise NotFound(f"Thread with ID {ctx.thread_id} not found")


async def serve(websocket: WebSocket, thread_id: str, run_id: str | None = None) -> None:
    """Authenticate the upgrade (refused: closed before accept), then serve commands until the
    client leaves."""
    services: Services = websocket.app.state.services
    try:
        auth: RequestAuth = await authenticate(as_request(websocket))
        thread_id = check_uuid(thread_id, "thread")
        if run_id is not None:
            run_id = check_uuid(run_id, "run")
            scope = await auth.authorize(
                "threads", "read", {"thread_id": thread_id, "run_id": run_id}
            )
            async with services.pool.connection() as conn:
                if await run_rows.get(conn, run_id, thread_id, scope=scope) is None:
                    raise NotFound("Run not found")
    except (GraphyardError, AuthHTTPException) as exc:
        log.info("protocol websocket refused: %s", getattr(exc, "detail", exc))
        await websocket.close(code=_POLICY)
        return
    await websocket.accept()
    headers = {k: v for k, v in websocket.headers.items()}
    session = Session(websocket, commands.Context(services, auth, thread_id, headers), run_id)
    try:
        while True:
            await session.handle(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
