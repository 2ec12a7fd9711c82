"""JSON-RPC 2.0 framing shared by MCP and A2A: error codes, the error a handler raises, and
reading a request body so that malformed input gets a JSON-RPC error, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphyard.errors import GraphyardError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestId = str | int | float | None


class RpcError(Exception):
    """A JSON-RPC error object a handler answers with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Call:
    """One JSON-RPC request (``id`` and ``method``) or notification (no ``id``)."""

    id: RequestId
    method: str | None
    params: dict[str, Any]
    notification: bool


def error_body(code: int, message: str, id_: RequestId = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def error_response(code: int, message: str, id_: RequestId = None) -> Response:
    """Errors go with HTTP 200, as JSON-RPC over HTTP has them."""
    return JSONResponse(error_body(code, message, id_))


def result_response(id_: RequestId, result: Any) -> Response:
    return JSONResponse({"jsonrpc": "2.0", "id": id_, "result": result})


async def read_call(request: Request) -> Call:
    """The body as one JSON-RPC message; ``RpcError`` for what is not one."""
    try:
        message = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise RpcError(PARSE_ERROR, "Invalid JSON payload") from None
    if not isinstance(message, dict):
        raise RpcError(INVALID_REQUEST, "Invalid message format: expected an object")
    if message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid JSON-RPC message: missing or invalid jsonrpc")
    id_ = message.get("id")
    if id_ is not None and (isinstance(id_, bool) or not isinstance(id_, str | int | float)):
        raise RpcError(INVALID_REQUEST, "Invalid JSON-RPC request: 'id' must be a string or number")
    method = message.get("method")
    if method is not None and not isinstance(method, str):
        raise RpcError(METHOD_NOT_FOUND, "Method not found: method must be a string")
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: must be an object")
    if method is None and "result" not in message and "error" not in message:
        raise RpcError(INVALID_REQUEST, "Invalid JSON-RPC request: missing 'method'")
    return Call(id_, method, params, notification=id_ is None)


def from_graphyard(exc: GraphyardError) -> RpcError:
    """An API error met while serving a call, as a JSON-RPC error (its HTTP status in the
    message: 404s and 422s are the caller's, the rest the server's)."""
    code = INVALID_PARAMS if 400 <= exc.status_code < 500 else INTERNAL_ERROR
    return RpcError(code, str(exc))
