"""A user's custom app for ``http.app`` (tests/test_http_config.py): a FastAPI app with a
route, a middleware, a lifespan and state; and a plain Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

STARTED: list[str] = []


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    STARTED.append("started")
    yield
    STARTED.append("stopped")


app = FastAPI(lifespan=lifespan)
app.state.greeting = "hello"


@app.middleware("http")
async def tag(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers["X-Custom-Middleware"] = "seen"
    return response


@app.get("/custom/hello")
async def hello(request: Request) -> dict[str, Any]:
    """Say hello, naming the caller when there is one."""
    user = request.scope.get("user")
    return {
        "greeting": request.app.state.greeting,
        "user": getattr(user, "identity", None),
        "lifespan": STARTED[-1] if STARTED else None,
    }


@app.get("/info")
async def shadowed_info() -> dict[str, str]:
    return {"served_by": "custom"}


async def plain(request: Request) -> JSONResponse:
    """A plain Starlette endpoint."""
    return JSONResponse({"plain": True})


starlette_app = Starlette(routes=[Route("/plain", plain, methods=["GET"])])
not_an_app = {"routes": []}
