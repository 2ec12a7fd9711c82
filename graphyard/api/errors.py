"""One place maps graphyard's errors (and Temporal's) to ``{"detail": ...}`` responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from temporalio.service import RPCError, RPCStatusCode

from graphyard.api.responses import JSON
from graphyard.errors import GraphyardError


def _detail(status: int, detail: object) -> Response:
    return JSON({"detail": detail}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the exception handlers."""

    @app.exception_handler(GraphyardError)
    async def graphyard_error(_: Request, exc: GraphyardError) -> Response:
        return _detail(exc.status_code, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _detail(exc.status_code, exc.detail)

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

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, exc: RPCError) -> Response:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _detail(404, "Not Found")
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return _detail(503, f"Temporal is unavailable: {exc.message}")
        return _detail(500, f"Temporal error: {exc.message}")
