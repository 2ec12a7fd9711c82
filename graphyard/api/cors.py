"""CORS for every route, as the reference server does it: every origin by default (without
credentials), ``http.cors`` of langgraph.json, ``GRAPHYARD_CORS_CONFIG`` /
``GRAPHYARD_CORS_ALLOW_ORIGINS`` over it. Preflights are answered before routing, so they
reach every route (SSE streams included) and never need credentials.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from graphyard.config import Settings
from graphyard.http_config import CorsConfig, HttpConfig

log = logging.getLogger(__name__)

# Response headers browser clients read: the run a create made (langgraph-sdk's useStream reads
# Content-Location), where to join it, and the pagination of searches.
EXPOSED_HEADERS = (
    "Content-Location",
    "Location",
    "X-Pagination-Total",
    "X-Pagination-Next",
)
DEFAULT_MAX_AGE = 600


def cors_options(settings: Settings, http: HttpConfig) -> dict[str, Any]:
    """``CORSMiddleware``'s options: the environment's config, else ``http.cors``, with
    graphyard's defaults for what neither sets."""
    config = settings.cors_config or http.cors or CorsConfig()
    if config.allow_origins is not None:
        origins = config.allow_origins
    elif settings.cors_allow_origins:
        origins = settings.cors_allow_origins
    else:
        # A regex alone allows what it matches, not everything.
        origins = [] if config.allow_origin_regex else ["*"]
    explicit = "*" not in origins
    credentials = config.allow_credentials if config.allow_credentials is not None else explicit
    if credentials and not explicit:
        log.warning(
            "CORS allows credentials from every origin (allow_origins has '*'): any web page "
            "can call the API with its visitors' cookies; list the origins instead"
        )
    expose = list(dict.fromkeys([*EXPOSED_HEADERS, *(config.expose_headers or [])]))
    return {
        "allow_origins": origins,
        "allow_origin_regex": config.allow_origin_regex,
        "allow_methods": config.allow_methods or ["*"],
        "allow_headers": config.allow_headers or ["*"],
        "allow_credentials": credentials,
        "expose_headers": expose,
        "max_age": config.max_age if config.max_age is not None else DEFAULT_MAX_AGE,
        "allow_private_network": settings.cors_allow_private_network,
    }


class _Cors:
    """``CORSMiddleware``, except under ``skip`` (the codec endpoint answers its own CORS,
    for the Temporal UI's origins only)."""

    def __init__(self, app: ASGIApp, /, skip: str | None, **options: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.skip and scope["type"] == "http" and _route_path(scope).startswith(self.skip):
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # Under a mount prefix, routes see the path past it.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def cors_middleware(settings: Settings, http: HttpConfig) -> Middleware:
    """The CORS middleware for the API app."""
    skip = "/codec/" if settings.codec_endpoint else None
    return Middleware(_Cors, skip=skip, **cors_options(settings, http))
