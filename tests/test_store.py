"""The store through langgraph-sdk: items, search, namespaces, TTLs, semantic search, bad input,
and graph nodes sharing the items the API serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import BadRequestError, UnprocessableEntityError
from temporalio.testing import WorkflowEnvironment

from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import GraphRegistry, LoadedConfig
from graphyard.store import StoreConfig, load_embeddings
from graphyard.worker import running_worker
from tests.stack import Stack, serve_api

pytestmark = pytest.mark.core


def _with_store(graphs: GraphRegistry, store: dict[str, Any]) -> GraphRegistry:
    """The test graphs with langgraph.json's ``store`` set to ``store``."""
    project = graphs.config.project.model_copy(update={"store": StoreConfig(**store)})
    return GraphRegistry(LoadedConfig(graphs.config.path, project))


@pytest.fixture
async def semantic(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment
) -> AsyncIterator[Stack]:
    """API and worker whose store embeds ``text`` with tests/graphs/embeddings.py."""
    registry = _with_store(
        graphs,
        {
            "index": {"dims": 5, "embed": "./embeddings.py:embed", "fields": ["text"]},
            "ttl": {"default_ttl": 60, "sweep_interval_minutes": 0.002},
        },
    )
    async with (
        serve_api(settings, registry) as url,
        running_worker(settings, temporal_env.client, registry),
    ):
        yield Stack(settings, get_client(url=url), temporal_env.client, url)


async def test_put_get_update_delete(api: Stack) -> None:
    store = api.client.store
    assert await store.put_item(["users", "u1"], "prefs", {"theme": "dark"}) is None
    item = await store.get_item(["users", "u1"], "prefs")
    assert item["namespace"] == ["users", "u1"]
    assert (item["key"], item["value"]) == ("prefs", {"theme": "dark"})
    assert item["created_at"] == item["updated_at"]
    await store.put_item(["users", "u1"], "prefs", {"theme": "light", "size": 2})
    updated = await store.get_item(["users", "u1"], "prefs")
    assert updated["value"] == {"theme": "light", "size": 2}
    assert updated["created_at"] == item["created_at"]
    assert updated["updated_at"] > item["updated_at"]
    assert await store.get_item(["users", "u2"], "prefs") is None
    assert await store.get_item(["users"], "prefs") is None  # namespaces are exact
    await store.delete_item(["users", "u1"], "prefs")
    assert await store.get_item(["users", "u1"], "prefs") is None
    await store.delete_item(["users", "u1"], "prefs")  # deleting nothing is fine
    async with httpx.AsyncClient(base_url=api.url) as http:
        await store.put_item(["a", "b"], "k", {"v": "x\x00y"})
        # Repeated parameters append labels; the SDK sends one dot-joined value.
        params = [("namespace", "a"), ("namespace", "b"), ("key", "k")]
        got = await http.get("/store/items", params=params)
        assert got.json()["value"] == {"v": "x\ufffdy"}  # NUL is stored as U+FFFD


async def _seed(api: Stack) -> None:
    for namespace, key, value in [
        (["docs", "a"], "one", {"kind": "note", "n": 1}),
        (["docs", "b"], "two", {"kind": "todo", "n": 2}),
        (["docs", "a", "deep"], "three", {"kind": "note", "n": 3}),
        (["docsx"], "four", {"kind": "note", "n": 4}),
        (["other"], "five", {"kind": "note", "n": 5}),
    ]:
        await api.client.store.put_item(namespace, key, value)


async def test_search(api: Stack) -> None:
    await _seed(api)
    store = api.client.store

    async def keys(prefix: list[str], **kwargs: Any) -> list[str]:
        found = await store.search_items(prefix, **kwargs)
        return [item["key"] for item in found["items"]]

    # Newest first; a prefix matches whole labels ("docs" is not a prefix of "docsx").
    assert await keys(["docs"]) == ["three", "two", "one"]
    assert await keys(["docs", "a"]) == ["three", "one"]
    assert await keys([]) == ["five", "four", "three", "two", "one"]
    assert await keys(["docs"], filter={"kind": "note"}) == ["three", "one"]
    assert await keys([], filter={"n": {"$gt": 2}, "kind": {"$ne": "todo"}}) == [
        "five",
        "four",
        "three",
    ]
    assert await keys([], filter={"n": {"$lte": 2}}) == ["two", "one"]
    assert await keys([], limit=2, offset=1) == ["four", "three"]
    assert await keys(["docs"], offset=3) == []
    found = await store.search_items(["docs", "b"])
    assert found["items"] == [
        {**found["items"][0], "namespace": ["docs", "b"], "key": "two", "score": None}
    ]
    # Without store.index a query is ignored, as the reference ignores it.
    assert await keys(["docs"], query="anything") == ["three", "two", "one"]


async def test_list_namespaces(api: Stack) -> None:
    await _seed(api)
    store = api.client.store

    async def listed(**kwargs: Any) -> list[list[str]]:
        return (await store.list_namespaces(**kwargs))["namespaces"]

    everything = [["docs", "a"], ["docs", "a", "deep"], ["docs", "b"], ["docsx"], ["other"]]
    assert await listed() == everything
    assert await listed(prefix=["docs"]) == everything[:3]
    assert await listed(suffix=["deep"]) == [["docs", "a", "deep"]]
    assert await listed(prefix=["*", "a"]) == [["docs", "a"], ["docs", "a", "deep"]]
    assert await listed(max_depth=1) == [["docs"], ["docsx"], ["other"]]
    assert await listed(prefix=["docs"], max_depth=2) == [["docs", "a"], ["docs", "b"]]
    assert await listed(limit=2, offset=1) == everything[1:3]
    assert await listed(prefix=["nothing"]) == []


async def test_bad_input_changes_nothing(api: Stack) -> None:
    await api.client.store.put_item(["keep"], "k", {"v": 1})
    before = api.sql("SELECT prefix, key, value, updated_at FROM store ORDER BY prefix, key")
    store = api.client.store
    with pytest.raises(BadRequestError) as reserved:
        await store.put_item(["langgraph", "x"], "k", {"v": 2})
    assert "langgraph" in reserved.value.response.json()["detail"]
    with pytest.raises(UnprocessableEntityError) as op:
        await store.search_items(["keep"], filter={"v": {"$regex": "1"}})
    assert "$regex" in op.value.response.json()["detail"]
    item = {"namespace": ["keep"], "key": "k", "value": {}}
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PUT", "/store/items", {**item, "namespace": ["a.b"]}, 422, "periods"),
        ("PUT", "/store/items", {**item, "namespace": ["a", ""]}, 422, "empty"),
        ("PUT", "/store/items", {**item, "namespace": ["ke\x00ep"]}, 422, "NUL"),
        ("PUT", "/store/items", {**item, "namespace": []}, 400, "empty"),
        ("PUT", "/store/items", {**item, "key": ""}, 400, "Key"),
        ("PUT", "/store/items", {**item, "value": [1]}, 422, "value"),
        ("PUT", "/store/items", {**item, "ttl": 0}, 422, "ttl"),
        ("PUT", "/store/items", {**item, "ttl": 1e12}, 422, "ttl"),
        ("PUT", "/store/items", {**item, "index": True}, 422, "index"),
        ("DELETE", "/store/items", {"namespace": ["keep."], "key": "k"}, 422, "periods"),
        ("DELETE", "/store/items", {"namespace": ["keep"]}, 422, "key"),
        ("POST", "/store/items/search", {"namespace_prefix": ["a."]}, 422, "periods"),
        ("POST", "/store/items/search", {"namespace_prefix": [], "limit": 0}, 422, "limit"),
        ("POST", "/store/namespaces", {"max_depth": 0}, 422, "max_depth"),
        ("POST", "/store/namespaces", {"suffix": ["x.y"]}, 422, "periods"),
    ]
    async with httpx.AsyncClient(base_url=api.url) as http:
        for method, path, body, status, detail in cases:
            response = await http.request(method, path, json=body)
            assert response.status_code == status, (method, body, response.text)
            assert detail in response.json()["detail"], (body, response.json())
        missing_key = await http.get("/store/items", params={"namespace": "keep"})
        assert (missing_key.status_code, missing_key.json()) == (400, {"detail": "Key is required"})
        empty_label = await http.get("/store/items", params={"namespace": "keep..x", "key": "k"})
        assert empty_label.status_code == 422
    assert (
        api.sql("SELECT prefix, key, value, updated_at FROM store ORDER BY prefix, key") == before
    )


async def test_ttl_refresh_and_expiry(api: Stack) -> None:
    store = api.client.store
    await store.put_item(["ttl"], "short", {"v": 1}, ttl=5)
    await store.put_item(["ttl"], "forever", {"v": 2})

    def expiry(key: str) -> Any:
        rows = api.sql("SELECT ttl_minutes, expires_at FROM store WHERE key = %s", (key,))
        return (rows[0]["ttl_minutes"], rows[0]["expires_at"]) if rows else None

    minutes, first = expiry("short")
    assert minutes == 5
    assert expiry("forever") == (None, None)
    await store.get_item(["ttl"], "short", refresh_ttl=False)
    assert expiry("short")[1] == first
    await store.get_item(["ttl"], "short")  # refresh_on_read defaults to true
    assert expiry("short")[1] > first
    # Past its expiry an item is never served, swept or not.
    api.sql("UPDATE store SET expires_at = now() - interval '1 second' WHERE key = 'short'")
    assert await store.get_item(["ttl"], "short") is None
    assert [i["key"] for i in (await store.search_items(["ttl"]))["items"]] == ["forever"]


async def test_graph_nodes_share_the_store(stack: Stack) -> None:
    store = stack.client.store
    await store.put_item(["users", "ada"], "profile", {"name": "Ada"})
    thread = await stack.client.threads.create()
    out = await stack.client.runs.wait(thread["thread_id"], "memory", input={"user": "ada"})
    assert out["profile"] == {"name": "Ada"}  # read by a node, put by the API
    assert out["keys"] == ["greeting", "profile"]
    written = await store.get_item(["users", "ada", "notes"], "greeting")
    assert written["value"] == {"text": "hello Ada"}  # written by a node, read by the API
    found = await store.search_items(["users"], filter={"text": "hello Ada"})
    assert [item["key"] for item in found["items"]] == ["greeting"]


async def test_semantic_search_and_config_ttl(semantic: Stack) -> None:
    store = semantic.client.store
    await store.put_item(["pets"], "cat", {"text": "the kitten purrs"})
    await store.put_item(["pets"], "dog", {"text": "a puppy barks"})
    await store.put_item(["pets"], "food", {"text": "pizza with cheese"})
    await store.put_item(["pets"], "hidden", {"text": "cats cats cats"}, index=False)
    found = (await store.search_items(["pets"], query="cats", limit=10))["items"]
    assert [item["key"] for item in found][:1] == ["cat"]
    assert sorted(item["key"] for item in found) == ["cat", "dog", "food"]
    scores = [item["score"] for item in found]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.99 > 0.1 > scores[1]
    for query, best in [("dogs", "dog"), ("dinner", "food"), ("a kitten", "cat")]:
        top = (await store.search_items(["pets"], query=query, limit=1))["items"]
        assert [item["key"] for item in top] == [best], query
    # index=False: stored and listed, but never embedded, so a query cannot find it.
    assert (await store.get_item(["pets"], "hidden"))["value"] == {"text": "cats cats cats"}
    plain = await store.search_items(["pets"])
    assert "hidden" in [item["key"] for item in plain["items"]]
    # A node's writes are embedded by the worker's store.
    thread = await semantic.client.threads.create()
    await semantic.client.runs.wait(thread["thread_id"], "memory", input={"user": "bo"})
    hello = (await store.search_items([], query="greeting", limit=1))["items"]
    assert [(item["key"], item["namespace"]) for item in hello] == [
        ("greeting", ["users", "bo", "notes"])
    ]
    # store.ttl.default_ttl applies to items put without a ttl; the workers sweep expired ones.
    ttl = semantic.sql("SELECT DISTINCT ttl_minutes FROM store")
    assert ttl == [{"ttl_minutes": 60}]
    semantic.sql("UPDATE store SET expires_at = now() - interval '1 second' WHERE key = 'dog'")
    await semantic.wait_rows("SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM store WHERE key = 'dog')")
    assert semantic.sql("SELECT count(*) AS n FROM store_vectors WHERE key = 'dog'") == [{"n": 0}]


async def test_embedding_settings_fail_at_start_naming_the_key(graphs: GraphRegistry) -> None:
    path = graphs.config.path
    with pytest.raises(ConfigError, match=r"store\.index\.embed.*langchain"):
        load_embeddings(path, "openai:text-embedding-3-small")  # langchain is not installed
    with pytest.raises(ConfigError, match=r"store\.index\.embed.*not found"):
        load_embeddings(path, "./missing.py:embed")
    with pytest.raises(ConfigError, match=r"store\.index\.embed.*no variable"):
        load_embeddings(path, "./embeddings.py:nope")
    with pytest.raises(ConfigError, match=r"store\.index\.embed.*expected a function"):
        load_embeddings(path, "./embeddings.py:DIMS")
    embeddings = load_embeddings(path, "./embeddings.py:embed")
    assert await embeddings.aembed_query("a puppy") == [0.0, 1.0, 0.0, 0.0, 0.1]
