"""The API's routes and middleware as langgraph.json's ``http`` section shapes them: the route
groups ``disable_*`` leaves on, the custom app (``http.app``), CORS, the request log and the
mount prefix. ``create_app`` calls ``include_routes`` then ``install``.

Middleware, outermost first: the request log, the mount prefix, then with the custom app's
``middleware_order`` "middleware_first" (the default) its middleware, CORS and the gate that
authenticates its routes (``enable_custom_route_auth``); with "auth_first" CORS, the gate
(authenticating the API's protected routes too) and its middleware."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from graphyard.api import custom_app, run_headers
from graphyard.api.auth import Authenticated
from graphyard.api.cors import cors_middleware
from graphyard.api.request_log import RequestLog
from graphyard.api.routes import (
    agents,
    assistant_graphs,
    assistants,
    codec,
    crons,
    dead_runs,
    meta,
    metrics,
    protocol,
    runs,
    state,
    store,
    streams,
    threads,
)
from graphyard.codec import settings_keys
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import LoadedConfig
from graphyard.http_config import HttpConfig

log = logging.getLogger(__name__)

# What each disable_* key turns off (as on the reference: crons and run streams are runs').
GROUPS = {
    "assistants": (assistants, assistant_graphs),
    "threads": (threads, state),
    "runs": (runs, streams, crons, dead_runs, protocol),
    "store": (store,),
}
# Paths served at the root as well when a mount prefix is set (load balancers' probes).
ROOT_PATHS = frozenset({"/", "/ok", "/metrics"})


@dataclass
class ApiRoutes:
    """Where the API's routes went: a custom app's routes go in at ``custom_at`` (after
    /docs, /openapi.json, /ok and /metrics, which it cannot shadow, before the rest);
    ``protected`` are those that need an authenticated caller."""

    custom_at: int
    protected: list[BaseRoute] = field(default_factory=list)


def _router(paths: set[str]) -> APIRouter:
    router = APIRouter()
    router.routes.extend(r for r in meta.router.routes if getattr(r, "path", None) in paths)
    return router


def include_routes(app: FastAPI, settings: Settings, http: HttpConfig) -> ApiRoutes:
    """Include the API's routers but the disabled groups' (with ``disable_meta``, only /ok
    of the health, info, docs and metrics routes stays)."""
    if http.disable_meta:
        docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
        app.router.routes[:] = [
            r for r in app.router.routes if getattr(r, "path", None) not in docs
        ]
        app.openapi_url = app.docs_url = app.redoc_url = None
    app.include_router(_router({"/ok"}))
    if settings.api_metrics and not http.disable_meta:
        app.include_router(metrics.router)
    routes = ApiRoutes(custom_at=len(app.router.routes))
    if not http.disable_meta:
        app.include_router(_router({"/", "/info"}))
    # Everything but health, info, docs and metrics needs an authenticated caller.
    for group, modules in GROUPS.items():
        if not http.disabled(group):
            for module in modules:
                app.include_router(module.router, dependencies=[Authenticated])
                routes.protected.append(app.router.routes[-1])
            if group == "runs":
                app.include_router(protocol.sockets)  # they authenticate their upgrade
    # The agent protocols run assistants: authenticated as the REST API is.
    for disabled, router in (
        (http.disable_mcp, agents.mcp_router),
        (http.disable_a2a, agents.a2a_router),
    ):
        if not disabled:
            app.include_router(router, dependencies=[Authenticated])
            routes.protected.append(app.router.routes[-1])
    if settings.codec_endpoint:
        # The Temporal UI's codec endpoint decrypts payloads: only with keys, and only on purpose.
        if not settings_keys(settings):
            raise ConfigError(
                "GRAPHYARD_CODEC_ENDPOINT needs codec keys (GRAPHYARD_CODEC_KEYS or "
                "GRAPHYARD_CODEC_KEY_FILE)"
            )
        app.include_router(codec.preflight)
        app.include_router(codec.router)
    return routes


def install(app: FastAPI, settings: Settings, config: LoadedConfig, routes: ApiRoutes) -> None:
    """The custom app, the middleware (request log, mount prefix, CORS, the custom app's) and
    start-up warnings for what graphyard does not implement."""
    http = config.project.http
    warn_unknown(config)
    run_headers.install(app, http)
    middleware = [Middleware(RequestLog, settings=settings, headers=http.logging_headers)]
    prefix = settings.mount_prefix or http.mount_prefix
    if prefix:
        middleware.append(Middleware(_MountPrefix, prefix=prefix))
    cors = cors_middleware(settings, http)
    user_app = custom_app.load(config)
    if user_app is None:
        app.user_middleware[:0] = [*middleware, cors]
        return
    custom = list(user_app.router.routes)
    app.router.routes[routes.custom_at : routes.custom_at] = custom
    custom_app.merge_lifespan(app, user_app)
    custom_app.merge_extras(app, user_app)
    custom_app.document(app, custom, http.enable_custom_route_auth)
    theirs = list(user_app.user_middleware)
    gated = custom if http.enable_custom_route_auth else []
    if http.middleware_order == "auth_first":
        # Authentication first wherever there is any, then the user's middleware.
        gate = Middleware(
            custom_app.RouteGate, routes=app.router.routes, gated=gated + routes.protected
        )
        middleware += [cors, gate, *theirs]
    else:
        middleware += [*theirs, cors]
        if gated:
            middleware.append(
                Middleware(custom_app.RouteGate, routes=app.router.routes, gated=gated)
            )
    app.user_middleware[:0] = middleware


def warn_unknown(config: LoadedConfig) -> None:
    """Name, at start-up, the keys of ``http`` graphyard does not implement."""
    unknown = config.project.http.unknown_keys()
    if unknown:
        log.warning(
            "%s: http keys %s are not implemented by graphyard and have no effect",
            config.path,
            ", ".join(unknown),
        )


class _MountPrefix:
    """Serve the API under ``prefix``; the root keeps only the health and metrics routes."""

    def __init__(self, app: ASGIApp, /, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            # Routing matches the path past root_path (as under a Starlette Mount); FastAPI's
            # docs and OpenAPI servers follow root_path too.
            scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        elif scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        elif path not in ROOT_PATHS:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
