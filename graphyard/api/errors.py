"""One place maps graphyard's errors (and Temporal's) to ``{"detail": ...}`` responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from langgraph.errors import InvalidUpdateError
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from temporalio.service import RPCError, RPCStatusCode

from graphyard.api.responses import JSON
from graphyard.errors import GraphyardError


def _detail(status: int, detail: object, headers: Any = None) -> Response:
    return JSON({"detail": detail}, status_code=status, headers=headers)


def auth_refusal(exc: GraphyardError | AuthHTTPException) -> Response:
    """The response for a refused authentication outside the routes (a middleware's)."""
    if isinstance(exc, AuthHTTPException):
        return _detail(exc.status_code, exc.detail, dict(exc.headers or {}))
    return _detail(exc.status_code, exc.detail)


def install(app: FastAPI) -> None:
    """Register the exception handlers, and document their body."""
    _document(app)

    @app.exception_handler(GraphyardError)
    async def graphyard_error(_: Request, exc: GraphyardError) -> Response:
        return _detail(exc.status_code, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _detail(exc.status_code, exc.detail)

    @app.exception_handler(AuthHTTPException)
    async def auth_error(_: Request, exc: AuthHTTPException) -> Response:
        # Raised by the project's auth handlers (langgraph_sdk.Auth.exceptions.HTTPException).
        return _detail(exc.status_code, exc.detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return _detail(422, "Invalid JSON in request body")
        parts = []
        for err in errors:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return _detail(422, "; ".join(parts))

    @app.exception_handler(ValidationError)
    async def schema_error(_: Request, exc: ValidationError) -> Response:
        # A graph's pydantic state schema refusing values: a thread whose run failed on its
        # input keeps that input in its checkpoint, and LangGraph validates it when it reads
        # the state back. The caller learns why, as a 4xx; nothing is wrong with the server.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors()[:5]
        )
        return _detail(422, f"Values do not validate against {exc.title}: {problems}")

    @app.exception_handler(InvalidUpdateError)
    async def invalid_update(_: Request, exc: InvalidUpdateError) -> Response:
        # LangGraph refusing a state update the client asked for (an unknown as_node, ...).
        return _detail(400, str(exc))

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, exc: RPCError) -> Response:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _detail(404, "Not Found")
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return _detail(503, f"Temporal is unavailable: {exc.message}")
        return _detail(500, f"Temporal error: {exc.message}")


def _document(app: FastAPI) -> None:
    """FastAPI documents 422 bodies as its list of errors; ours carry one message, as every
    other error does."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = build()["components"]["schemas"]
            schemas.pop("ValidationError", None)
            schemas["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {"detail": {"title": "Detail", "type": "string"}},
                "required": ["detail"],
            }
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
