"""MCP (Streamable HTTP, JSON responses, no sessions) at ``/mcp``, as the reference serves it:
``initialize``, ``ping``, ``tools/list`` (one tool per assistant the caller can see, its input
schema the graph's) and ``tools/call`` (a stateless durable run; its answer is led by newlines
while it runs). A failure in the graph is a tool result with ``isError``; an unknown tool, a
JSON-RPC error. The wire types are the official ``mcp`` SDK's (``mcp_types``)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import mcp_types as mt
import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from graphyard import __version__
from graphyard.api.auth import RequestAuth
from graphyard.api.protocol import jsonrpc
from graphyard.api.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from graphyard.api.protocol.runs import answer_when_done, start_run, visible_assistants
from graphyard.api.routes.assistant_graphs import compiled_graph, graph_schemas
from graphyard.errors import GraphyardError
from graphyard.runs.backends import Services
from graphyard.runs.request import RunCreate
from graphyard.storage.rows import AssistantRow, RunRow

log = logging.getLogger(__name__)

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_VERSION = HANDSHAKE_VERSIONS[-1]
PAGE_SIZE = 100

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_\-.]")
# Message types the reference drops from a tool's input schema: an LLM sends a string.
_MESSAGE_DEFS = {
    f"{kind}{suffix}"
    for kind in ("AI", "Human", "Chat", "System", "Function", "Tool")
    for suffix in ("Message", "MessageChunk")
}
_SUPPORT_DEFS = {
    "ToolCall",
    "ToolCallChunk",
    "InvalidToolCall",
    "UsageMetadata",
    "InputTokenDetails",
    "OutputTokenDetails",
}


def tool_name(assistant_name: str) -> str:
    """An assistant's name as an MCP tool name (``^[a-zA-Z0-9_\\-.]{1,128}$``)."""
    name = re.sub(r"\s+", "_", assistant_name.strip())
    return _INVALID_NAME_CHARS.sub("", name)[:128]


def simplify_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The graph's input schema for an LLM: a list of LangChain messages becomes one string
    (the user's message); the message types' definitions go."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict) or not set(defs) & _MESSAGE_DEFS:
        return schema
    schema = {
        **schema,
        "$defs": {k: v for k, v in defs.items() if k not in _MESSAGE_DEFS | _SUPPORT_DEFS},
    }
    if not schema["$defs"]:
        del schema["$defs"]
    props = dict(schema.get("properties") or {})
    for key, prop in props.items():
        items = prop.get("items", {}) if prop.get("type") == "array" else {}
        refs = [c.get("$ref", "") for c in items.get("oneOf") or items.get("anyOf") or []]
        if any(r.removeprefix("#/$defs/") in _MESSAGE_DEFS for r in refs):
            props[key] = {
                "type": "string",
                "title": prop.get("title", key),
                "description": "The user message to send to the agent.",
            }
    return {**schema, "properties": props}


def _dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def handle(request: Request, services: Services, auth: RequestAuth) -> Response:
    """One POST to ``/mcp``: a request gets its response; a notification or a response, 202."""
    accept = request.headers.get("accept", "")
    try:
        call = await jsonrpc.read_call(request)
    except RpcError as exc:
        return jsonrpc.error_response(exc.code, exc.message)
    if "application/json" not in accept and "text/event-stream" not in accept:
        return jsonrpc.error_response(
            jsonrpc.INVALID_REQUEST,
            "Accept header must include application/json or text/event-stream",
            call.id,
        )
    if call.notification or call.method is None:
        return Response(status_code=202)
    try:
        if call.method == "tools/call":
            run_id = await start_call(call.params, request, services, auth)

            async def answer(row: RunRow | None) -> bytes:
                body = {"jsonrpc": "2.0", "id": call.id, "result": tool_result(row)}
                return orjson.dumps(body)

            return answer_when_done(services, run_id, answer)
        result = await _dispatch(call.method, call.params, request, services, auth)
    except GraphyardError as exc:
        err = jsonrpc.from_graphyard(exc)
        return jsonrpc.error_response(err.code, err.message, call.id)
    except RpcError as exc:
        return jsonrpc.error_response(exc.code, exc.message, call.id)
    return jsonrpc.result_response(call.id, result)


async def _dispatch(
    method: str, params: dict[str, Any], request: Request, services: Services, auth: RequestAuth
) -> Any:
    if method == "initialize":
        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_VERSIONS else LATEST_VERSION
        return _dump(
            mt.InitializeResult(
                protocol_version=version,
                capabilities=mt.ServerCapabilities(tools=mt.ToolsCapability(list_changed=False)),
                server_info=mt.Implementation(name="LangGraph", version=__version__),
            )
        )
    if method == "ping":
        return {}
    if method == "tools/list":
        return await list_tools(params, services, auth)
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")


async def list_tools(params: dict[str, Any], services: Services, auth: RequestAuth) -> Any:
    """A page of tools (``cursor``: an offset), one per visible assistant name."""
    try:
        cursor = int(params.get("cursor") or 0)
    except (TypeError, ValueError):
        cursor = 0
    assistants = (await visible_assistants(services, auth))[cursor : cursor + PAGE_SIZE]
    seen: set[str] = set()
    unique = []
    for row in assistants:
        name = tool_name(row["name"])
        if name and name not in seen:
            seen.add(name)
            unique.append((row, name))
    tools = [t for t in await asyncio.gather(*(_tool(services, r, n) for r, n in unique)) if t]
    next_cursor = str(cursor + PAGE_SIZE) if len(assistants) == PAGE_SIZE else None
    return _dump(mt.ListToolsResult(tools=tools, next_cursor=next_cursor))


async def _tool(services: Services, row: AssistantRow, name: str) -> mt.Tool | None:
    """The assistant's tool; ``None`` (left out) when its graph has no input schema."""
    try:
        async with compiled_graph(services, row) as graph:
            schema = graph_schemas(graph)["input_schema"]
    except Exception as exc:
        log.warning("assistant %s left out of MCP tools: %s", row["assistant_id"], exc)
        return None
    if schema is None:
        return None
    schema = simplify_schema(schema)
    schema.setdefault("type", "object")
    return mt.Tool(
        name=name,
        title=row["name"],
        description=row.get("description") or f"Tool based on the {row['name']} assistant",
        input_schema=schema,
        annotations=mt.ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )


async def start_call(
    params: dict[str, Any], request: Request, services: Services, auth: RequestAuth
) -> str:
    """Start the run of the assistant the tool names, on ``arguments`` as its input; its id."""
    try:
        call = mt.CallToolRequestParams.model_validate(params)
    except ValidationError as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid params: {exc.errors()[0]['msg']}") from None
    context = params.get("context")
    if context is not None and not isinstance(context, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'context' must be an object")
    visible = await visible_assistants(services, auth)
    matches = [a for a in visible if tool_name(a["name"]) == call.name]
    if not matches:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {call.name}")
    if len(matches) > 1:
        raise RpcError(INVALID_PARAMS, "Multiple tools found with the same name.")
    body = RunCreate.model_validate(
        {
            "assistant_id": str(matches[0]["assistant_id"]),
            "input": call.arguments or {},
            "context": context,
        }
    )
    submitted = await start_run(services, auth, request, body, None)
    return str(submitted.row["run_id"])


def tool_result(row: RunRow | None) -> Any:
    """The run's output as JSON text and structured content, or its error as ``isError``."""
    output = (row["output"] if row else None) or {}
    if isinstance(output, dict) and "__error__" in output:
        error = output["__error__"]
        text = str(error)
        if isinstance(error, dict):
            text = ": ".join(str(error[k]) for k in ("error", "message") if error.get(k))
        return _dump(mt.CallToolResult(content=[mt.TextContent(text=text)], is_error=True))
    text = orjson.dumps(output).decode()
    structured = output if isinstance(output, dict) else None
    return _dump(
        mt.CallToolResult(content=[mt.TextContent(text=text)], structured_content=structured)
    )
