"""``http.app``: a user's Starlette or FastAPI app (``./webapp.py:app``) served beside the API,
as the reference serves it. Its routes come after /ok, /metrics, /docs and /openapi.json (which
it cannot shadow) and before every other route (which it can); its middleware wraps every
request (``middleware_order: "middleware_first"``, the default) or runs after authentication
(``"auth_first"``); ``enable_custom_route_auth`` authenticates its routes as the API's. Its
lifespan runs inside the API's, its exception handlers and state are kept, and its routes are
listed in /openapi.json (a FastAPI app's as FastAPI documents them, a Starlette app's by method,
name and docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from graphyard.api import errors
from graphyard.api.auth import authenticate
from graphyard.api.auth.dependency import GATED
from graphyard.errors import ConfigError, GraphyardError
from graphyard.graphs import LoadedConfig
from graphyard.specs import import_target

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def load(config: LoadedConfig) -> Starlette | None:
    """The app ``http.app`` names, or ``None``; a ``ConfigError`` when it is not an app."""
    spec = config.project.http.app
    if not spec:
        return None
    app = import_target(config.path, "http.app", spec)
    if not isinstance(app, Starlette):
        raise ConfigError(
            f"{config.path}: key http.app: {spec!r} is a {type(app).__name__}, not a Starlette "
            "or FastAPI app (app = FastAPI() or app = Starlette(routes=[...]))"
        )
    return app


class RouteGate:
    """Authenticates the requests that one of ``gated`` will serve (matching ``routes``, the
    app's, in order), as the API's routes are, before the middleware inside this one: 401/403
    ``{"detail": ...}`` on refusal. A custom route then reads the caller as ``request.user``;
    the API's own dependency reuses the result."""

    def __init__(self, app: ASGIApp, /, routes: list[BaseRoute], gated: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self.gated = {id(route) for route in gated}

    def _serving(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            # A copy: FastAPI's included routers note what they matched in the scope.
            match, _ = route.matches(dict(scope))
            if match == Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and id(self._serving(scope)) in self.gated:
            http = scope if scope["type"] == "http" else {**scope, "type": "http"}
            try:
                auth = await authenticate(Request(http, receive))
            except (GraphyardError, AuthHTTPException) as exc:
                # Outside the routes: the app's exception handlers are not reached.
                await errors.auth_refusal(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})[GATED] = auth
            if auth.user is not None:
                scope["user"] = auth.user
                scope["auth"] = AuthCredentials(list(auth.user.permissions))
            else:
                scope["user"] = UnauthenticatedUser()
                scope["auth"] = AuthCredentials()
        await self.app(scope, receive, send)


def merge_lifespan(app: FastAPI, user_app: Starlette) -> None:
    """The user's lifespan runs inside the API's (the API is up before the user's starts)."""
    api_lifespan: Lifespan = app.router.lifespan_context
    user_lifespan: Lifespan = user_app.router.lifespan_context

    @asynccontextmanager
    async def both(outer: Any) -> AsyncIterator[Any]:
        async with api_lifespan(outer) as api_state, user_lifespan(user_app) as user_state:
            yield {**(api_state or {}), **(user_state or {})} or None

    app.router.lifespan_context = both


def merge_extras(app: FastAPI, user_app: Starlette) -> None:
    """The user's exception handlers (the API's own win) and ``app.state``."""
    for key, handler in user_app.exception_handlers.items():
        app.exception_handlers.setdefault(key, handler)
    for key, value in user_app.state._state.items():
        if not hasattr(app.state, key):
            setattr(app.state, key, value)


def document(app: FastAPI, routes: Sequence[BaseRoute], authenticated: bool) -> None:
    """List the user's routes in /openapi.json: FastAPI lists its own ``APIRoute`` s; plain
    Starlette routes are added here. Unauthenticated ones say so (``security: []``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            paths = document.setdefault("paths", {})
            for route in routes:
                if not isinstance(route, Route) or not route.include_in_schema:
                    continue
                operations = paths.setdefault(route.path, {})
                if not isinstance(route, APIRoute):
                    for method in sorted((route.methods or set()) - {"HEAD"}):
                        operations.setdefault(method.lower(), _operation(route))
                if not authenticated and "security" in document:
                    for operation in operations.values():
                        operation["security"] = []
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _operation(route: Route) -> dict[str, Any]:
    doc = (getattr(route.endpoint, "__doc__", None) or "").strip()
    summary = doc.splitlines()[0] if doc else route.name.replace("_", " ").capitalize()
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": f"custom_{route.name}",
        "tags": ["custom"],
        "responses": {"200": {"description": "Successful Response"}},
    }
    if doc:
        operation["description"] = doc
    return operation
