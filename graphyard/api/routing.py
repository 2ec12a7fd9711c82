"""``BodyRoute``, the route class of every router: request bodies are read up to
``GRAPHYARD_MAX_BODY_BYTES`` and, on routes that take one, parsed as JSON whatever their
Content-Type (as the reference server does: browsers' proxies send ``text/plain``) and held to
``GRAPHYARD_MAX_JSON_DEPTH`` and 64-bit integers, before FastAPI validates them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import params
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from graphyard.api import json_body
from graphyard.config import Settings
from graphyard.errors import PayloadTooLarge

# Bodies larger than this are parsed and checked in a thread, off the event loop.
_THREAD_FROM_BYTES = 64 * 1024

_JSON = (b"content-type", b"application/json")


class BoundedRequest(Request):
    """A request whose body is read at most up to the limit; with ``as_json``, its body is
    JSON whatever its Content-Type says."""

    def __init__(self, scope: Scope, receive: Receive, settings: Settings, as_json: bool) -> None:
        super().__init__(scope, receive)
        self._settings = settings
        self._as_json = as_json
        self._json_headers: Headers | None = None

    @property
    def headers(self) -> Headers:
        if not self._as_json:
            return super().headers
        if self._json_headers is None:
            # FastAPI parses a body only under a JSON content type: say so.
            raw = [item for item in self.scope["headers"] if item[0] != _JSON[0]]
            self._json_headers = Headers(raw=[*raw, _JSON])
        return self._json_headers

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            limit = self._settings.max_body_bytes
            declared = super().headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PayloadTooLarge(_too_large(limit))
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(limit))
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            depth = self._settings.max_json_depth
            if len(body) > _THREAD_FROM_BYTES:
                self._json = await run_in_threadpool(json_body.parse, body, depth)
            else:
                self._json = json_body.parse(body, depth)
        return self._json


def _too_large(limit: int) -> str:
    return f"Request body too large (limit: {limit} bytes, GRAPHYARD_MAX_BODY_BYTES)"


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class BodyRoute(APIRoute):
    """An ``APIRoute`` whose requests are ``BoundedRequest``s. The body is read and checked
    before FastAPI's handler runs, so a refusal is an ordinary ``{"detail": ...}`` error
    (FastAPI turns errors raised while it parses into a bare 400)."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        field = self.body_field
        as_json = field is not None and not isinstance(field.field_info, params.Form)

        async def bounded(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            checked = BoundedRequest(request.scope, request.receive, settings, as_json)
            if as_json and await checked.body():
                await checked.json()
            return await handle(checked)

        return bounded
