"""A webhook receiver on loopback for tests: records every request and answers each with the
next status of its plan (then 200)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class Receiver:
    """Answers with ``plan`` (one status per request, in order), then ``then``."""

    def __init__(self, plan: list[int] | None = None, then: int = 200) -> None:
        self.plan = list(plan or [])
        self.then = then
        self.received: list[Received] = []
        self.url = ""
        self._changed = asyncio.Condition()
        # Cleared: requests are recorded, then held unanswered until it is set again.
        self.open = asyncio.Event()
        self.open.set()

    async def _hook(self, request: Request) -> Response:
        status = self.plan.pop(0) if self.plan else self.then
        got = Received(request.url.path, dict(request.headers), await request.body(), status)
        async with self._changed:
            self.received.append(got)
            self._changed.notify_all()
        await self.open.wait()
        return Response(status_code=status)

    async def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """The requests so far, once there are at least ``count``."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.received) >= count), timeout
            )
            return list(self.received)


@asynccontextmanager
async def receiving(plan: list[int] | None = None, then: int = 200) -> AsyncIterator[Receiver]:
    """A ``Receiver`` serving ``POST <url>/hook`` on 127.0.0.1, in this event loop."""
    receiver = Receiver(plan, then)
    app = Starlette(routes=[Route("/{path:path}", receiver._hook, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
