"""The agent protocols' routes: ``/mcp`` (MCP) and ``/a2a/{assistant_id}`` (A2A); the
protocols themselves live in ``graphyard.api.protocol``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps
from graphyard.api.protocol import a2a, mcp
from graphyard.api.routing import BodyRoute

mcp_router = APIRouter(tags=["mcp"], route_class=BodyRoute)
a2a_router = APIRouter(tags=["a2a"], route_class=BodyRoute)


@mcp_router.post("/mcp", response_class=JSONResponse)
async def mcp_post(request: Request, services: Deps, auth: AuthDep) -> Response:
    """MCP over Streamable HTTP: one JSON-RPC message per POST, answered with JSON."""
    return await mcp.handle(request, services, auth)


@mcp_router.get("/mcp", include_in_schema=False)
async def mcp_get() -> Response:
    """No server-initiated stream (as on the reference)."""
    return Response(status_code=405)


@mcp_router.delete("/mcp", include_in_schema=False)
async def mcp_delete() -> Response:
    """No sessions to end (as on the reference)."""
    return Response(status_code=404)


@a2a_router.post("/a2a/{assistant_id}", response_class=JSONResponse)
async def a2a_post(assistant_id: str, request: Request, services: Deps, auth: AuthDep) -> Response:
    """A2A JSON-RPC: SendMessage, SendStreamingMessage and SubscribeToTask (SSE), GetTask,
    CancelTask (and their 0.3 names message/send, message/stream, tasks/resubscribe,
    tasks/get, tasks/cancel)."""
    return await a2a.handle(request, services, auth, assistant_id)


@a2a_router.get("/a2a/{assistant_id}/.well-known/agent-card.json")
async def agent_card(assistant_id: str, request: Request, services: Deps, auth: AuthDep) -> Any:
    """The assistant's A2A agent card."""
    return await a2a.agent_card(request, services, auth, assistant_id)
