"""Assistants through langgraph-sdk (async and sync) and raw HTTP: CRUD, versions, search and
count, deletion with threads, the graph drawing, schemas and subgraphs, and error bodies."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, default_assistant_id
from tests.stack import Stack, serve_api

pytestmark = pytest.mark.core

ASSISTANT_KEYS = {
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "description",
    "version",
    "created_at",
    "updated_at",
}


async def test_system_assistants_are_registered(stack: Stack, graphs: GraphRegistry) -> None:
    found = await stack.client.assistants.search(graph_id="chat")
    assert [a["assistant_id"] for a in found] == [default_assistant_id("chat")]
    system = await stack.client.assistants.get(default_assistant_id("chat"))
    assert set(system) == ASSISTANT_KEYS
    assert system["metadata"] == {"created_by": "system"}
    assert (system["name"], system["version"], system["context"]) == ("chat", 1, {})
    assert await stack.client.assistants.count(metadata={"created_by": "system"}) == len(
        graphs.graph_ids
    )


async def test_create_update_versions_and_set_latest(stack: Stack) -> None:
    client = stack.client.assistants
    created = await client.create(
        graph_id="chain",
        config={"configurable": {"model": "a"}},
        context={"tone": "dry"},
        metadata={"owner": "ann", "team": "x"},
        name="first",
        description="v1",
    )
    aid = created["assistant_id"]
    assert uuid.UUID(aid).version == 4
    assert created["version"] == 1
    assert (created["name"], created["description"]) == ("first", "v1")
    assert (await client.get(aid))["config"] == {"configurable": {"model": "a"}}
    untitled = await client.create(graph_id="chat")
    assert untitled["name"] == "Untitled"
    assert untitled["description"] is None

    v2 = await client.update(aid, metadata={"team": "y", "extra": 1}, name="second")
    assert v2["version"] == 2
    assert v2["metadata"] == {"owner": "ann", "team": "y", "extra": 1}
    assert v2["config"] == {"configurable": {"model": "a"}}  # not given: kept
    assert v2["description"] == "v1"
    v3 = await client.update(aid, config={"configurable": {"model": "b"}}, graph_id="chat")
    assert (v3["version"], v3["graph_id"], v3["name"]) == (3, "chat", "second")
    assert v3["updated_at"] >= v2["updated_at"]

    versions = await client.get_versions(aid)
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert "updated_at" not in versions[0]
    assert versions[2]["metadata"] == {"owner": "ann", "team": "x"}
    assert [v["version"] for v in await client.get_versions(aid, limit=1, offset=1)] == [2]
    only = await client.get_versions(aid, metadata={"extra": 1})
    assert [v["version"] for v in only] == [3, 2]

    back = await client.set_latest(aid, 1)
    assert (back["version"], back["name"], back["graph_id"]) == (1, "first", "chain")
    assert back["metadata"] == {"owner": "ann", "team": "x"}
    assert (await client.get(aid))["config"] == {"configurable": {"model": "a"}}
    # A patch after a rollback still gets a fresh number: one past the highest.
    v4 = await client.update(aid, name="fourth")
    assert (v4["version"], v4["graph_id"], v4["description"]) == (4, "chain", "v1")
    rows = stack.sql(
        "SELECT version, name FROM assistant_versions WHERE assistant_id = %s ORDER BY version",
        (aid,),
    )
    assert [(r["version"], r["name"]) for r in rows] == [
        (1, "first"),
        (2, "second"),
        (3, "second"),
        (4, "fourth"),
    ]

    async with httpx.AsyncClient(base_url=stack.url) as http:
        by_query = await http.post(f"/assistants/{aid}/latest", params={"version": 2})
        assert by_query.status_code == 200
        assert by_query.json()["name"] == "second"
        missing = await http.post(f"/assistants/{aid}/latest", json={"version": 99})
        assert missing.status_code == 404
        assert "detail" in missing.json()
        no_version = await http.post(f"/assistants/{aid}/latest", json={})
        assert no_version.status_code == 422


async def test_create_if_exists_and_errors(stack: Stack, graphs: GraphRegistry) -> None:
    aid = str(uuid.uuid4())
    first = await stack.client.assistants.create(graph_id="chat", assistant_id=aid, name="a")
    with pytest.raises(ConflictError):
        await stack.client.assistants.create(graph_id="chat", assistant_id=aid)
    same = await stack.client.assistants.create(
        graph_id="chain", assistant_id=aid, if_exists="do_nothing", name="ignored"
    )
    assert same == first
    with pytest.raises(NotFoundError):
        await stack.client.assistants.get(str(uuid.uuid4()))
    with pytest.raises(UnprocessableEntityError):
        await stack.client.assistants.get("chat")

    missing = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=stack.url) as http:
        dup = await http.post("/assistants", json={"graph_id": "chat", "assistant_id": aid})
        assert (dup.status_code, dup.json()) == (409, {"detail": f"Assistant {aid} already exists"})
        bad_graph = await http.post("/assistants", json={"graph_id": "nope", "unknown": 1})
        assert bad_graph.status_code == 404
        assert bad_graph.json()["detail"] == (
            f"Graph 'nope' not found. Expected one of: {list(graphs.graph_ids)}"
        )
        bad_id = await http.post("/assistants", json={"graph_id": "chat", "assistant_id": "x"})
        assert bad_id.json() == {"detail": "Invalid assistant ID: must be a UUID"}
        no_graph = await http.post("/assistants", json={"name": "x"})
        assert no_graph.status_code == 422
        assert "graph_id" in no_graph.json()["detail"]
        malformed = await http.post(
            "/assistants", content=b"{", headers={"content-type": "application/json"}
        )
        assert malformed.json() == {"detail": "Invalid JSON in request body"}

        invalid = {"detail": "Invalid assistant ID: must be a UUID"}
        for method, path in [
            ("GET", "/assistants/chat"),
            ("PATCH", "/assistants/chat"),
            ("DELETE", "/assistants/chat"),
            ("GET", "/assistants/chat/schemas"),
            ("GET", "/assistants/chat/subgraphs"),
            ("POST", "/assistants/chat/versions"),
        ]:
            body = {} if method in ("PATCH", "POST") else None
            resp = await http.request(method, path, json=body)
            assert (resp.status_code, resp.json()) == (422, invalid), (method, path)

        gone = await http.get(f"/assistants/{missing}")
        assert gone.status_code == 404
        patched = await http.patch(f"/assistants/{missing}", json={"name": "x"})
        assert patched.status_code == 404
        bad_patch_graph = await http.patch(f"/assistants/{aid}", json={"graph_id": "nope"})
        assert bad_patch_graph.status_code == 404
        deleted = await http.delete(f"/assistants/{missing}")
        assert deleted.json() == {"detail": f"Assistant with ID {missing} not found"}
        assert deleted.status_code == 404
        versions = await http.post(f"/assistants/{missing}/versions", json={})
        assert versions.status_code == 404
        latest = await http.post(f"/assistants/{missing}/latest", json={"version": 1})
        assert latest.status_code == 404
        graph = await http.get(f"/assistants/{missing}/graph")
        assert graph.status_code == 404
    assert (await stack.client.assistants.get(aid))["version"] == 1  # failed patch: no version


async def test_search_count_and_pagination(stack: Stack) -> None:
    tag = uuid.uuid4().hex
    names = ["Alpha Bot", "Beta bot", "Gamma", "Zeta 100%_x"]
    for i, name in enumerate(names):
        await stack.client.assistants.create(
            graph_id="chain" if i % 2 else "chat", metadata={"tag": tag, "i": i}, name=name
        )
    client = stack.client.assistants
    assert await client.count(metadata={"tag": tag}) == 4
    assert await client.count(metadata={"tag": tag}, graph_id="chain") == 2
    assert await client.count(name="BOT") == 2
    assert await client.count(name="%_") == 1  # LIKE wildcards are literal text
    assert await client.count(metadata={"tag": "absent"}) == 0

    by_name = await client.search(metadata={"tag": tag}, sort_by="name", sort_order="asc")
    assert [a["name"] for a in by_name] == sorted(names)
    page = await client.search(metadata={"tag": tag}, limit=3, response_format="object")
    assert len(page["assistants"]) == 3
    assert page["next"] == "3"
    selected = await client.search(metadata={"tag": tag}, select=["assistant_id", "name"])
    assert all(set(a) == {"assistant_id", "name"} for a in selected)

    async with httpx.AsyncClient(base_url=stack.url) as http:
        resp = await http.post(
            "/assistants/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 1}
        )
        assert resp.headers["X-Pagination-Total"] == "4"
        assert resp.headers["X-Pagination-Next"] == "3"
        last = await http.post(
            "/assistants/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 2}
        )
        assert "X-Pagination-Next" not in last.headers
        counted = await http.post("/assistants/count", json={"metadata": {"tag": tag}})
        assert counted.json() == 4
        assert counted.text.strip() == "4"
        bad_select = await http.post("/assistants/search", json={"select": ["bogus"]})
        assert bad_select.status_code == 422
        assert "bogus" in bad_select.json()["detail"]
        bad_sort = await http.post("/assistants/search", json={"sort_by": "bogus"})
        assert bad_sort.status_code == 422


async def test_delete_with_and_without_threads(stack: Stack) -> None:
    doomed = await stack.client.assistants.create(graph_id="chain", name="doomed")
    kept = await stack.client.assistants.create(graph_id="chain", name="kept")
    threads: dict[str, str] = {}
    for key, assistant in [("doomed", doomed), ("kept", kept)]:
        thread = await stack.client.threads.create()
        await stack.client.runs.wait(
            thread["thread_id"], assistant["assistant_id"], input={"steps": []}
        )
        threads[key] = thread["thread_id"]
    doomed_id = doomed["assistant_id"]
    assert stack.sql("SELECT 1 FROM runs WHERE thread_id = %s", (threads["doomed"],))
    assert stack.sql("SELECT 1 FROM checkpoints WHERE thread_id = %s", (threads["doomed"],))

    async with httpx.AsyncClient(base_url=stack.url) as http:
        resp = await http.delete(f"/assistants/{doomed_id}", params={"delete_threads": "true"})
    assert resp.status_code == 204
    assert resp.content == b""
    with pytest.raises(NotFoundError):
        await stack.client.assistants.get(doomed_id)
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(threads["doomed"])
    assert not stack.sql("SELECT 1 FROM runs WHERE thread_id = %s", (threads["doomed"],))
    assert not stack.sql("SELECT 1 FROM checkpoints WHERE thread_id = %s", (threads["doomed"],))
    assert not stack.sql("SELECT 1 FROM assistant_versions WHERE assistant_id = %s", (doomed_id,))

    # Without delete_threads (the SDK's default) the threads stay.
    await stack.client.assistants.delete(kept["assistant_id"])
    with pytest.raises(NotFoundError):
        await stack.client.assistants.delete(kept["assistant_id"])
    thread = await stack.client.threads.get(threads["kept"])
    assert thread["metadata"]["assistant_id"] == kept["assistant_id"]


async def test_graph_drawing(stack: Stack) -> None:
    by_name = await stack.client.assistants.get_graph("fanout")
    by_id = await stack.client.assistants.get_graph(default_assistant_id("fanout"))
    assert by_name == by_id
    assert [n["id"] for n in by_name["nodes"]] == ["__start__", "work", "join", "__end__"]
    assert by_name["nodes"][0] == {
        "id": "__start__",
        "type": "runnable",
        "data": {"name": "__start__"},
    }
    assert {"source": "__start__", "target": "work", "conditional": True} in by_name["edges"]
    assert {"source": "join", "target": "__end__"} in by_name["edges"]
    assert await stack.client.assistants.get_graph("fanout", xray=True) == by_name
    assert await stack.client.assistants.get_graph("fanout", xray=2) == by_name
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for bad in ("0", "-1", "deep"):
            resp = await http.get("/assistants/fanout/graph", params={"xray": bad})
            assert resp.json() == {"detail": "Invalid xray value"}
            assert resp.status_code == 422
        unknown = await http.get("/assistants/not-a-graph/graph")
        assert unknown.json() == {"detail": "Invalid assistant ID: must be a UUID"}


async def test_schemas(stack: Stack) -> None:
    chat = await stack.client.assistants.get_schemas(default_assistant_id("chat"))
    assert set(chat) == {
        "graph_id",
        "input_schema",
        "output_schema",
        "state_schema",
        "config_schema",
        "context_schema",
    }
    assert chat["graph_id"] == "chat"
    assert "messages" in chat["input_schema"]["properties"]
    assert "messages" in chat["output_schema"]["properties"]
    assert list(chat["state_schema"]["properties"]) == ["messages"]
    assert chat["config_schema"] == {}
    assert chat["context_schema"] is None
    custom = await stack.client.assistants.create(graph_id="fanout")
    fanout = await stack.client.assistants.get_schemas(custom["assistant_id"])
    assert fanout["graph_id"] == "fanout"
    assert {"topic", "results", "summary"} <= set(fanout["state_schema"]["properties"])
    assert fanout["state_schema"]["properties"]["results"]["type"] == "array"
    assert await stack.client.assistants.get_subgraphs(custom["assistant_id"]) == {}


NESTED = """
from typing_extensions import TypedDict
from langgraph.graph import START, StateGraph

class State(TypedDict):
    steps: list[str]

def leaf(state: State) -> dict:
    return {"steps": [*state["steps"], "leaf"]}

def level(name, node, action):
    builder = StateGraph(State)
    builder.add_node(node, action)
    builder.add_edge(START, node)
    return builder.compile(name=name)

graph = level("outer", "inner", level("inner", "deep", level("deep", "leaf", leaf)))
"""


async def test_subgraphs(settings: Settings, tmp_path: Path) -> None:
    """A project of its own, with a graph nesting two levels of subgraphs."""
    (tmp_path / "nested_graphs.py").write_text(textwrap.dedent(NESTED))
    config = {"graphs": {"nested": "./nested_graphs.py:graph"}}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    registry = GraphRegistry.from_path(tmp_path / "langgraph.json")
    async with serve_api(settings, registry) as url:
        client = get_client(url=url).assistants
        aid = default_assistant_id("nested")
        top = await client.get_subgraphs(aid)
        assert list(top) == ["inner"]
        assert set(top["inner"]) == {
            "input_schema",
            "output_schema",
            "state_schema",
            "config_schema",
            "context_schema",
        }
        assert top["inner"]["input_schema"]["properties"]["steps"]["type"] == "array"
        assert list(await client.get_subgraphs(aid, recurse=True)) == ["inner", "inner|deep"]
        assert list(await client.get_subgraphs(aid, namespace="inner")) == ["inner"]
        assert await client.get_subgraphs(aid, namespace="nowhere") == {}

        flat = await client.get_graph("nested")
        assert [n["id"] for n in flat["nodes"]] == ["__start__", "inner", "__end__"]
        xray = await client.get_graph("nested", xray=True)
        assert "inner:deep:leaf" in [n["id"] for n in xray["nodes"]]
        one_level = await client.get_graph("nested", xray=1)
        assert "inner:deep" in [n["id"] for n in one_level["nodes"]]


async def test_sync_client(stack: Stack) -> None:
    """The sync client blocks: it runs in a thread so the server's loop keeps serving."""

    def scenario() -> dict[str, Any]:
        client = get_sync_client(url=stack.url).assistants
        created = client.create(graph_id="approval", metadata={"sync": True}, name="s")
        aid = created["assistant_id"]
        updated = client.update(aid, metadata={"more": 1})
        result = {
            "get": client.get(aid),
            "updated": updated,
            "count": client.count(metadata={"sync": True}),
            "search": client.search(metadata={"sync": True}),
            "versions": client.get_versions(aid),
            "latest": client.set_latest(aid, 1),
            "graph": client.get_graph(aid),
            "schemas": client.get_schemas(aid),
        }
        client.delete(aid)
        try:
            client.get(aid)
        except NotFoundError:
            result["deleted"] = True
        return result

    result = await asyncio.to_thread(scenario)
    assert result["updated"]["metadata"] == {"sync": True, "more": 1}
    assert result["count"] == 1
    assert [a["name"] for a in result["search"]] == ["s"]
    assert [v["version"] for v in result["versions"]] == [2, 1]
    assert result["latest"]["metadata"] == {"sync": True}
    assert [n["id"] for n in result["graph"]["nodes"]] == [
        "__start__",
        "draft",
        "ask",
        "act",
        "__end__",
    ]
    assert result["schemas"]["graph_id"] == "approval"
    assert result["deleted"] is True
