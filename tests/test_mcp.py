"""MCP at /mcp, driven by the official ``mcp`` client over Streamable HTTP: every assistant a
tool with its graph's input schema, a call an ordinary durable run, a failure in the graph a
tool error, auth deciding what a caller sees and may call; bad JSON-RPC gets JSON-RPC errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry
from tests.stack import Stack
from tests.test_auth import AUTH_SETTINGS, TOKENS, Users, users  # noqa: F401
from tests.test_http_config import _registry


@asynccontextmanager
async def mcp_client(url: str, **headers: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


async def test_tools_are_the_assistants_and_calls_are_runs(stack: Stack) -> None:
    async with mcp_client(stack.url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"chat", "adder", "agent"} <= set(tools)
        # A graph whose input schema cannot be built is left out (as on the reference).
        assert "chain" not in tools
        chat = tools["chat"].input_schema
        # A list of messages is one string for an LLM, as on the reference.
        assert chat["properties"]["messages"]["type"] == "string"
        assert "$defs" not in chat or "HumanMessage" not in chat["$defs"]

        result = await client.call_tool("chat", {"messages": "hello"})
        assert not result.is_error
        assert result.structured_content is not None
        last = result.structured_content["messages"][-1]
        assert last["content"] == "Hi! You said: hello (turn 1)"
        assert "You said: hello" in result.content[0].text  # type: ignore[union-attr]

        failed = await client.call_tool("failing", {"value": "x"})
        assert failed.is_error
        assert "kaboom" in failed.content[0].text  # type: ignore[union-attr]

        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {})
        assert unknown.value.error.code == -32602
    # Each call was an ordinary run, on a stateless thread, kept in the runs table.
    rows = stack.sql("SELECT status FROM runs ORDER BY created_at")
    assert [r["status"] for r in rows] == ["success", "error"]


async def test_a_typed_input_reaches_the_graph(stack: Stack) -> None:
    async with mcp_client(stack.url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        schema = tools["adder"].input_schema
        assert schema["properties"]["a"]["type"] == "integer"
        assert set(schema["required"]) == {"a", "b"}
        result = await client.call_tool("adder", {"a": 2, "b": 3})
        assert not result.is_error, result.content
        assert result.structured_content == {"a": 2, "b": 3, "total": 5}
        failed = await client.call_tool("adder", {"a": 2, "b": -1})
        assert failed.is_error
        assert "b must not be negative" in failed.content[0].text  # type: ignore[union-attr]


async def test_bad_json_rpc_gets_json_rpc_errors(stack: Stack) -> None:
    accept = {"accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=stack.url, headers=accept) as http:
        cases: list[tuple[Any, int]] = [
            (b"{not json", -32700),
            ([1, 2], -32600),
            ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, -32600),
            ({"jsonrpc": "2.0", "id": 1, "method": "nope"}, -32601),
            ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}, -32602),
            ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"x": 1}}, -32602),
            (
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": "chat", "arguments": 3},
                },
                -32602,
            ),
        ]
        for body, code in cases:
            content = body if isinstance(body, bytes) else None
            response = await http.post("/mcp", content=content, json=None if content else body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["error"]["code"] == code, (body, response.text)
        ping = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 7, "method": "ping"})
        assert ping.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}
        note = await http.post(
            "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        assert note.status_code == 202
        assert (await http.get("/mcp")).status_code == 405
    assert stack.sql("SELECT count(*) AS n FROM runs") == [{"n": 0}]


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_a_caller_sees_and_calls_only_its_assistants(users: Users) -> None:  # noqa: F811
    mine = await users.alice.assistants.create("adder", name="alices adder")
    async with mcp_client(users.stack.url, Authorization=f"Bearer {TOKENS['alice']}") as alice:
        names = {t.name for t in (await alice.list_tools()).tools}
        assert "alices_adder" in names
        result = await alice.call_tool("alices_adder", {"a": 1, "b": 1})
        assert not result.is_error, result.content
    async with mcp_client(users.stack.url, Authorization=f"Bearer {TOKENS['bob']}") as bob:
        names = {t.name for t in (await bob.list_tools()).tools}
        assert "alices_adder" not in names
        assert "adder" in names
        with pytest.raises(MCPError) as refused:
            await bob.call_tool("alices_adder", {"a": 1, "b": 1})
        assert refused.value.error.code == -32602
    runs = users.stack.sql("SELECT assistant_id::text AS a FROM runs")
    assert runs == [{"a": mine["assistant_id"]}]
    async with httpx.AsyncClient(base_url=users.stack.url) as http:
        anonymous = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"accept": "application/json"},
        )
        assert anonymous.status_code == 401


async def test_disable_mcp_removes_the_route(graphs: GraphRegistry) -> None:
    for http, served in (({}, True), ({"disable_mcp": True}, False)):
        app = create_app(Settings(), _registry(graphs, http))
        paths = set(app.openapi()["paths"])
        assert ("/mcp" in paths) is served
        assert "/a2a/{assistant_id}" in paths
