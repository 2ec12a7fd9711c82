"""Custom auth (tests/graphs/auth_users.py, two users with bearer tokens) and the built-in API
keys, through langgraph-sdk clients holding different credentials: 401s, 403s, owner stamps,
what the graph sees, and, for every route, that one user never reaches another's things."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from graphyard.api.app import create_app
from graphyard.api.auth import apikeys
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import AuthConfig, GraphRegistry, LoadedConfig
from graphyard.types import run_workflow_id
from graphyard.worker import running_worker
from tests.stack import ROOT, Stack, open_stack

AUTH_CONFIG = ROOT / "tests" / "graphs" / "langgraph.auth.json"
TOKENS = {
    "alice": "token-alice-0123456789",
    "bob": "token-bob-0123456789",
    "mallory": "token-mallory-0123456789",
    "oscar": "token-oscar-0123456789",
}
AUTH_SETTINGS = {"step_max_attempts": 1}
API_KEY = "gy-secret-key-5f1e9c0b7a"
NEVER = "0 0 1 1 *"  # crons here must not fire during the test


@dataclass
class Users:
    stack: Stack
    alice: LangGraphClient
    bob: LangGraphClient
    mallory: LangGraphClient
    oscar: LangGraphClient
    nobody: LangGraphClient


def _client(url: str, api_key: str | None = None, **headers: str) -> LangGraphClient:
    # api_key=None: no x-api-key from the environment either.
    return get_client(url=url, api_key=api_key, headers=headers)


@pytest.fixture
async def users(settings: Settings, temporal_env: WorkflowEnvironment) -> AsyncIterator[Users]:
    graphs = GraphRegistry.from_path(AUTH_CONFIG)
    async with (
        open_stack(settings, graphs, temporal_env.client) as stack,
        running_worker(settings, stack.temporal, graphs),
    ):
        clients = {
            name: _client(stack.url, Authorization=f"Bearer {token}")
            for name, token in TOKENS.items()
        }
        yield Users(stack, nobody=_client(stack.url), **clients)


async def outcome(call: Callable[[], Any]) -> int | str:
    """The HTTP status a call failed with, or ``"ok"``: awaited, or its stream's first event."""
    try:
        result = call()
        if inspect.isawaitable(result):  # some SDK stream methods are coroutines
            result = await result
        if hasattr(result, "__aiter__"):
            async for _ in result:
                break
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    return "ok"


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_authentication_and_refusals(users: Users) -> None:
    nobody, alice, mallory = users.nobody, users.alice, users.mallory
    async with httpx.AsyncClient(base_url=users.stack.url) as http:
        for path in ("/info", "/openapi.json", "/metrics"):
            assert (await http.get(path)).status_code == 200, path
        # /docs offers a bearer token for every protected route; open routes say they are.
        document = (await http.get("/openapi.json")).json()
        assert document["components"]["securitySchemes"] == {
            "Bearer": {"type": "http", "scheme": "bearer"}
        }
        assert document["security"] == [{"Bearer": []}]
        assert document["paths"]["/info"]["get"]["security"] == []
        assert "security" not in document["paths"]["/threads"]["post"]
        assert (await http.get("/ok")).status_code in (200, 503)  # 503: the worker is starting
        refused = await http.post("/threads/search", json={})
        assert refused.status_code == 401
        assert refused.json() == {"detail": "Missing bearer token"}
        wrong = await http.get("/threads/x", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token"})
    assert await outcome(lambda: nobody.threads.create()) == 401
    assert await outcome(lambda: nobody.store.search_items(["x"])) == 401
    assert await outcome(lambda: nobody.runs.stream(None, "chain", input={})) == 401

    # A handler answering False is 403 Forbidden; an AssertionError in one is 403 too.
    with pytest.raises(httpx.HTTPStatusError) as refused_thread:
        await mallory.threads.create()
    assert refused_thread.value.response.status_code == 403
    assert refused_thread.value.response.json() == {"detail": "Forbidden"}
    with pytest.raises(httpx.HTTPStatusError) as refused_assistant:
        await mallory.assistants.create("chain")
    assert refused_assistant.value.response.status_code == 403
    assert "mallory may not touch assistants" in refused_assistant.value.response.text
    assert await outcome(lambda: mallory.threads.search()) == 403

    # Owners are stamped on create.
    thread = await alice.threads.create(metadata={"topic": "x"})
    assert thread["metadata"] == {"topic": "x", "owner": "alice"}
    assistant = await alice.assistants.create("chain", metadata={"owner": "bob"})
    assert assistant["metadata"]["owner"] == "alice"
    run = await alice.runs.create(thread["thread_id"], "chain", input={"steps": ["a"]})
    assert run["metadata"]["owner"] == "alice"


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_graph_sees_the_user_and_no_credential(users: Users) -> None:
    thread = await users.alice.threads.create()
    injected = {
        "configurable": {
            "langgraph_auth_user_id": "bob",
            "langgraph_auth_user": {"identity": "bob"},
            "langgraph_auth_permissions": ["admin"],
        }
    }
    out = await users.alice.runs.wait(
        thread["thread_id"], "whoami", input={"note": "hi"}, config=injected
    )
    assert isinstance(out, dict)
    assert out["user_id"] == "alice"
    assert out["permissions"] == ["threads:write"]
    assert out["user"] == {
        "identity": "alice",
        "display_name": "Alice",
        "permissions": ["threads:write"],
        "is_authenticated": True,
        "team": "red",
        "via_attribute": "alice",
    }
    # Debug events carry the run's config: the user in it reads as the graph saw it.
    modes: Any = ["debug"]
    parts = users.alice.runs.stream(thread["thread_id"], "whoami", input={}, stream_mode=modes)
    configs = [
        p.data["payload"]["config"]["configurable"]
        async for p in parts
        if p.event == "debug" and "config" in p.data.get("payload", {})
    ]
    assert configs
    assert all(c["langgraph_auth_user"]["identity"] == "alice" for c in configs)
    # A graph factory reading the thread's state is called for the caller (Bob, whom Alice
    # shares the thread with), not for the user of the thread's last run.
    shared = await users.alice.threads.create(metadata={"shared_with": ["bob"]})
    factory_thread = shared["thread_id"]
    await users.alice.runs.wait(factory_thread, "whoami_factory", input={"note": "f"})
    callers = sys.modules["whoami"].FACTORY_CALLERS  # the module as langgraph.json loaded it
    callers.clear()
    state = await users.bob.threads.get_state(factory_thread)
    assert state["values"]["user_id"] == "alice"
    assert callers == ["bob"]
    stateless = await users.bob.runs.wait(None, "whoami", input={})
    assert isinstance(stateless, dict)
    assert stateless["user_id"] == "bob"
    _assert_nowhere(users.stack, TOKENS["alice"], TOKENS["bob"], "Bearer")


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_no_user_reaches_another_users_things(users: Users) -> None:
    alice, bob, stack = users.alice, users.bob, users.stack
    # Alice's things: an assistant, a finished run on a thread, a run waiting at an interrupt,
    # a dead run, a stateless run, crons, a store item.
    assistant = await alice.assistants.create("chain", name="alice's")
    aid = assistant["assistant_id"]
    await alice.assistants.update(aid, metadata={"v": 2})
    thread = await alice.threads.create(metadata={"topic": "secret"})
    tid = thread["thread_id"]
    await alice.runs.wait(tid, aid, input={"steps": ["a"]})
    run = (await alice.runs.list(tid))[0]
    rid = run["run_id"]
    state = await alice.threads.get_state(tid)
    checkpoint_id = state["checkpoint"]["checkpoint_id"]
    waiting_thread = await alice.threads.create()
    wtid = waiting_thread["thread_id"]
    await alice.runs.wait(wtid, "approval", input={"request": "deploy"})
    waiting = (await alice.runs.list(wtid))[0]
    wrid = waiting["run_id"]
    assert waiting["status"] == "interrupted"
    dead_thread = await alice.threads.create()
    with pytest.raises(Exception, match="kaboom"):  # the SDK raises a run's __error__
        await alice.runs.wait(dead_thread["thread_id"], "failing", input={})
    dead_rid = (await alice.runs.list(dead_thread["thread_id"]))[0]["run_id"]
    stateless = await alice.runs.create(None, "chain", input={"steps": ["s"]})
    await alice.runs.join(stateless["thread_id"], stateless["run_id"])
    cron = await alice.crons.create_for_thread(tid, "chain", schedule=NEVER, input={})
    cron_id = cron["cron_id"]
    await alice.crons.create("chain", schedule=NEVER, input={})
    await alice.store.put_item(["prefs"], "theme", {"color": "red"})
    shared = await alice.threads.create(metadata={"shared_with": ["carol", "bob"]})

    # Bob sees his own things only, and the thread shared with him ($contains).
    own = await bob.threads.create()
    bob_threads = [t["thread_id"] for t in await bob.threads.search(limit=100)]
    assert sorted(bob_threads) == sorted([own["thread_id"], shared["thread_id"]])
    assert await bob.threads.count() == 2
    assert await alice.threads.count() == 4

    calls: dict[str, Callable[[], Any]] = {
        # threads
        "threads.get": lambda: bob.threads.get(tid),
        "threads.update": lambda: bob.threads.update(tid, metadata={"owner": "bob"}),
        "threads.delete": lambda: bob.threads.delete(tid),
        "threads.copy": lambda: bob.threads.copy(tid),
        "threads.get_state": lambda: bob.threads.get_state(tid),
        "threads.get_state@checkpoint": lambda: bob.threads.get_state(
            tid, checkpoint_id=checkpoint_id
        ),
        "threads.update_state": lambda: bob.threads.update_state(tid, {"steps": ["x"]}),
        "threads.get_history": lambda: bob.threads.get_history(tid),
        "GET history": lambda: bob.http.get(f"/threads/{tid}/history"),
        "GET storage": lambda: bob.http.get(f"/threads/{tid}/storage"),
        "threads.join_stream": lambda: bob.threads.join_stream(tid),
        "crons.create_for_thread": lambda: bob.crons.create_for_thread(
            tid, "chain", schedule=NEVER
        ),
        # runs
        "runs.get": lambda: bob.runs.get(tid, rid),
        "runs.list": lambda: bob.runs.list(tid),
        "runs.join": lambda: bob.runs.join(tid, rid),
        "runs.join_stream": lambda: bob.runs.join_stream(tid, rid),
        "runs.delete": lambda: bob.runs.delete(tid, rid),
        "runs.create": lambda: bob.runs.create(tid, "chain", input={"steps": ["b"]}),
        "runs.wait": lambda: bob.runs.wait(tid, "chain", input={"steps": ["b"]}),
        "runs.stream": lambda: bob.runs.stream(tid, "chain", input={"steps": ["b"]}),
        "runs.create(if_not_exists)": lambda: bob.runs.create(
            tid, "chain", input={}, if_not_exists="create"
        ),
        "runs.cancel(waiting)": lambda: bob.runs.cancel(wtid, wrid),
        "runs.cancel(wait)": lambda: bob.runs.cancel(wtid, wrid, wait=True),
        "runs.cancel_many(ids)": lambda: bob.runs.cancel_many(thread_id=wtid, run_ids=[wrid]),
        "runs.cancel_many(all)": lambda: bob.runs.cancel_many(status="all"),
        "resume (Command)": lambda: bob.runs.wait(wtid, "approval", command={"resume": True}),
        "resume (endpoint)": lambda: bob.http.post(
            f"/threads/{wtid}/runs/{wrid}/resume", json={"resume": True}
        ),
        "runs.join(waiting)": lambda: bob.runs.join(wtid, wrid),
        "stateless join_stream": lambda: bob.http.stream(
            f"/runs/{stateless['run_id']}/stream", "GET"
        ),
        "stateless with alice's assistant": lambda: bob.runs.create(None, aid, input={}),
        "retry dead run": lambda: bob.http.post(f"/runs/{dead_rid}/retry", json={}),
        # assistants
        "assistants.get": lambda: bob.assistants.get(aid),
        "assistants.update": lambda: bob.assistants.update(aid, name="bob's"),
        "assistants.delete": lambda: bob.assistants.delete(aid),
        "assistants.get_graph": lambda: bob.assistants.get_graph(aid),
        "assistants.get_schemas": lambda: bob.assistants.get_schemas(aid),
        "assistants.get_subgraphs": lambda: bob.assistants.get_subgraphs(aid),
        "assistants.get_versions": lambda: bob.assistants.get_versions(aid),
        "assistants.set_latest": lambda: bob.assistants.set_latest(aid, 1),
        # crons
        "GET cron": lambda: bob.http.get(f"/runs/crons/{cron_id}"),
        "crons.update": lambda: bob.crons.update(cron_id, schedule="* * * * *"),
        "crons.delete": lambda: bob.crons.delete(cron_id),
    }
    leaks = {name: got for name, call in calls.items() if (got := await outcome(call)) != 404}
    assert leaks == {}

    # Taken ids are refused, not handed over.
    duplicate_thread = bob.threads.create(thread_id=tid, if_exists="do_nothing")
    assert await outcome(lambda: duplicate_thread) == 409
    duplicate_assistant = bob.assistants.create("chain", assistant_id=aid, if_exists="do_nothing")
    assert await outcome(lambda: duplicate_assistant) == 409

    # Searches, counts and lists never return Alice's things.
    found = [t["thread_id"] for t in await bob.threads.search(ids=[tid, wtid], limit=100)]
    assert found == []
    assert await bob.threads.search(metadata={"topic": "secret"}) == []
    assert await bob.threads.prune([tid, wtid]) == {"pruned_count": 0}
    assert aid not in [a["assistant_id"] for a in await bob.assistants.search(limit=100)]
    assert await bob.assistants.count(metadata={"owner": "alice"}) == 0
    assert await bob.crons.search() == []
    assert await bob.crons.count() == 0
    assert (await bob.http.get("/runs/dead")) == []
    assert [r["run_id"] for r in await alice.http.get("/runs/dead")] == [dead_rid]
    assert await bob.store.get_item(["prefs"], "theme") is None
    assert (await bob.store.search_items(["prefs"]))["items"] == []
    await bob.store.delete_item(["prefs"], "theme")
    await bob.store.put_item(["prefs"], "theme", {"color": "blue"})
    assert (await bob.store.list_namespaces())["namespaces"] == [["bob", "prefs"]]

    # And Alice's things are as she left them.
    metadata = (await alice.threads.get(tid))["metadata"]
    assert (metadata["topic"], metadata["owner"], metadata["assistant_id"]) == (
        "secret",
        "alice",
        aid,
    )
    assert (await alice.runs.get(wtid, wrid))["status"] == "interrupted"
    assert (await alice.runs.get(tid, rid))["status"] == "success"
    assert len(await alice.runs.list(tid)) == 1
    assert (await alice.assistants.get(aid))["version"] == 2
    assert [c["cron_id"] for c in await alice.crons.search(thread_id=tid)] == [cron_id]
    assert await alice.crons.count() == 2
    mine = await alice.store.get_item(["prefs"], "theme")
    assert mine is not None
    assert (mine["namespace"], mine["value"]) == (["alice", "prefs"], {"color": "red"})
    # Alice can still do everything Bob could not.
    resumed = await alice.runs.wait(wtid, "approval", command={"resume": True})
    assert isinstance(resumed, dict)
    assert resumed["outcome"].startswith("done")
    copied = await alice.threads.copy(tid)
    assert copied["metadata"]["owner"] == "alice"
    await alice.crons.delete(cron_id)
    await alice.threads.delete(tid)
    assert stack.sql("SELECT 1 FROM threads WHERE thread_id = %s", (tid,)) == []


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_a_stateless_runs_thread_is_its_callers(users: Users) -> None:
    """While it lives, a stateless run's thread carries its metadata: its caller sees the run
    through it, and nobody else does; after it is deleted, the run's own metadata decides."""
    alice, bob = users.alice, users.bob
    kept = await alice.runs.create(None, "chain", input={"steps": ["k"]}, on_completion="keep")
    await alice.runs.join(kept["thread_id"], kept["run_id"])
    assert (await alice.threads.get(kept["thread_id"]))["metadata"]["owner"] == "alice"
    assert await outcome(lambda: bob.runs.get(kept["thread_id"], kept["run_id"])) == 404
    gone = await alice.runs.create(None, "chain", input={"steps": ["g"]})
    await alice.runs.join(gone["thread_id"], gone["run_id"])
    assert users.stack.sql("SELECT 1 FROM threads WHERE thread_id = %s", (gone["thread_id"],)) == []
    assert await outcome(lambda: alice.runs.join(gone["thread_id"], gone["run_id"])) == "ok"
    assert await outcome(lambda: bob.runs.join(gone["thread_id"], gone["run_id"])) == 404
    stream = f"/runs/{gone['run_id']}/stream"
    assert await outcome(lambda: alice.http.stream(stream, "GET")) == "ok"
    assert await outcome(lambda: bob.http.stream(stream, "GET")) == 404


def _assert_nowhere(stack: Stack, *secrets: str) -> None:
    """No row of any table in the test's schema mentions any of ``secrets``."""
    tables = stack.sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (stack.settings.database_schema,)
    )
    for table in (t["tablename"] for t in tables):
        rows = stack.sql(f'SELECT t::text AS row FROM "{table}" t')
        for row in rows:
            for secret in secrets:
                assert secret not in row["row"], f"{secret!r} in {table}"


@pytest.mark.parametrize(
    "settings", [{"api_keys": f"ci:{API_KEY}, ops:other-key-9a8b7c6d"}], indirect=True
)
async def test_api_keys(stack: Stack) -> None:
    url = stack.url
    anonymous, wrong, client = _client(url), _client(url, API_KEY + "x"), _client(url, API_KEY)
    assert await outcome(lambda: anonymous.threads.search()) == 401
    assert await outcome(lambda: wrong.threads.search()) == 401
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/info")).status_code == 200
        refused = await http.get("/threads/x", headers={"x-api-key": ""})
        assert refused.json() == {"detail": "Missing or invalid API key (x-api-key)"}
        schemes = (await http.get("/openapi.json")).json()["components"]["securitySchemes"]
        assert schemes == {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}

    thread = await client.threads.create()
    modes: Any = ["values", "debug"]  # debug events carry the run's config
    parts = client.runs.stream(
        thread["thread_id"], "chain", input={"steps": ["a"]}, stream_mode=modes
    )
    assert [p.event async for p in parts if p.event == "debug"]
    runs = await client.runs.list(thread["thread_id"])
    configurable = stack.sql("SELECT kwargs FROM runs")[0]["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user_id"] == "ci"  # the key's name, never the key
    # The key is in no table of the schema, nor in the run's Temporal history.
    _assert_nowhere(stack, API_KEY)
    handle = stack.temporal.get_workflow_handle(run_workflow_id(runs[0]["run_id"]))
    history = json.dumps((await handle.fetch_history()).to_json_dict())
    assert API_KEY not in history
    assert "x-api-key" not in history


async def test_loading_fails_clearly(settings: Settings, graphs: GraphRegistry) -> None:
    def with_auth(path: str) -> GraphRegistry:
        project = graphs.config.project.model_copy(update={"auth": AuthConfig(path=path)})
        return GraphRegistry(LoadedConfig(graphs.config.path, project))

    with pytest.raises(ConfigError, match="no authenticate handler"):
        create_app(settings, with_auth("./auth_incomplete.py:auth"))
    with pytest.raises(ConfigError, match=r"not a langgraph_sdk\.Auth"):
        create_app(settings, with_auth("./auth_users.py:USERS"))


def test_api_key_names_and_matching(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# mounted secret\nops: key-one-123456\nbare-key-abcdef  # no name\n")
    settings = Settings(api_keys=SecretStr("ci:key-ci-654321"), api_keys_file=keys_file)
    keys = apikeys.load(settings)
    bare = "key-" + hashlib.sha256(b"bare-key-abcdef").hexdigest()[:8]
    assert [k.name for k in keys] == ["ci", "ops", bare]
    assert apikeys.match(keys, "key-one-123456") == "ops"
    assert apikeys.match(keys, "bare-key-abcdef") == bare
    assert apikeys.match(keys, "key-one-12345") is None
    assert apikeys.match(keys, None) is None
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="holds no API key"):
        apikeys.load(Settings(api_keys_file=tmp_path / "empty"))


CODEC_SETTINGS = {**AUTH_SETTINGS, "codec_keys": "k1:" + "A" * 43 + "=", "codec_endpoint": True}


@pytest.mark.parametrize("settings", [CODEC_SETTINGS], indirect=True)
async def test_the_codec_endpoint_needs_its_permission(users: Users) -> None:
    # Decoding reads every user's payloads: an authenticated user is not enough.
    plain = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImhpIg=="}  # json/plain "hi"
    body = {"payloads": [plain]}
    async with httpx.AsyncClient(base_url=users.stack.url) as http:
        anonymous = await http.post("/codec/encode", json=body)
        assert anonymous.status_code == 401

        def bearer(user: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {TOKENS[user]}"}

        refused = await http.post("/codec/encode", json=body, headers=bearer("bob"))
        assert refused.status_code == 403
        assert "graphyard:codec" in refused.json()["detail"]
        sealed = await http.post("/codec/encode", json=body, headers=bearer("oscar"))
        assert sealed.status_code == 200
        opened = await http.post("/codec/decode", json=sealed.json(), headers=bearer("oscar"))
        assert opened.json() == body
        assert (await http.post("/codec/decode", json=sealed.json())).status_code == 401


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_authentications_are_cached_per_credential(users: Users) -> None:
    # langgraph.auth.json: auth.cache keyed by Authorization, at most 2 entries.
    asked = sys.modules["auth_users"].AUTHENTICATED  # the module as langgraph.json loaded it
    asked.clear()
    for _ in range(3):
        await users.alice.threads.search()
    await users.bob.threads.search()
    assert asked == [TOKENS["alice"], TOKENS["bob"]]
    # A refusal is never cached: each bad token is asked about again.
    for _ in range(2):
        assert await outcome(lambda: users.nobody.threads.search()) == 401
    assert asked[2:] == ["", ""]
    # Beyond max_size the least recently used credential goes (alice: bob was used last).
    await users.oscar.threads.search()
    await users.bob.threads.search()
    await users.alice.threads.search()
    assert asked[4:] == [TOKENS["oscar"], TOKENS["alice"]]


# What the docs' sample leaves to the reader: a token check. "Bearer <name>" is user <name>.
_SAMPLE_VERIFY = """

async def verify(authorization):
    from types import SimpleNamespace

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return SimpleNamespace(id=token, scopes=[], name=token.title(), org="acme")
"""


async def test_the_docs_sample_lets_users_run_graphs_by_graph_id(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """docs/auth.md's auth.py, as written there: each user runs graphs by graph id (their system
    assistants are everyone's) and still sees only what it owns."""
    doc = (ROOT / "docs" / "auth.md").read_text()
    sample = doc.split("## Writing `auth.py`", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "auth_sample.py"
    path.write_text(sample + _SAMPLE_VERIFY)
    project = graphs.config.project.model_copy(update={"auth": AuthConfig(path=f"{path}:auth")})
    registry = GraphRegistry(LoadedConfig(graphs.config.path, project))
    async with (
        open_stack(settings, registry, temporal_env.client) as stack,
        running_worker(settings, stack.temporal, registry),
    ):
        ana = _client(stack.url, Authorization="Bearer ana")
        bo = _client(stack.url, Authorization="Bearer bo")
        thread = await ana.threads.create()
        assert thread["metadata"]["owner"] == "ana"
        done = await ana.runs.wait(thread["thread_id"], "chain", input={"steps": []})
        assert isinstance(done, dict)
        assert len(done["steps"]) == 10
        stateless = await bo.runs.wait(None, "chain", input={"steps": []})
        assert isinstance(stateless, dict)
        assert len(stateless["steps"]) == 10
        system = await bo.assistants.search(graph_id="chain")
        assert [a["metadata"].get("created_by") for a in system] == ["system"]
        assert await outcome(lambda: bo.threads.get(thread["thread_id"])) == 404
        mine = await ana.assistants.create("chain", name="ana's")
        assert mine["metadata"]["owner"] == "ana"
        assert await outcome(lambda: bo.assistants.get(mine["assistant_id"])) == 404
        assert (
            await outcome(lambda: bo.assistants.update(system[0]["assistant_id"], name="x")) == 404
        )


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_thread_streams_belong_to_their_owner(users: Users, transport: str) -> None:
    """``client.threads.stream``: the owner runs and reads; another user's commands, SSE and
    WebSocket get nothing of the thread; no credentials, no WebSocket (403)."""
    alice = {"Authorization": f"Bearer {TOKENS['alice']}"}
    bob = {"Authorization": f"Bearer {TOKENS['bob']}"}
    async with users.alice.threads.stream(
        assistant_id="chain", transport=transport, headers=alice
    ) as thread:
        await thread.run.start(input={"steps": ["a"]})
        output = await asyncio.wait_for(thread.output, timeout=60)
    assert len(output["steps"]) == 11
    thread_id = thread.thread_id
    async with httpx.AsyncClient(base_url=users.stack.url, headers=bob) as http:
        start = await http.post(
            f"/threads/{thread_id}/commands",
            json={"id": 1, "method": "run.start", "params": {"assistant_id": "chain", "input": {}}},
        )
        stream = await http.post(
            f"/threads/{thread_id}/stream/events", json={"channels": ["values"]}
        )
    assert start.json()["type"] == "error"
    assert stream.status_code == 404
    ws_url = users.stack.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url):
            pass
    assert refused.value.response.status_code == 403
    async with connect(ws_url, additional_headers=bob) as socket:
        await socket.send(
            json.dumps(
                {
                    "id": 1,
                    "method": "subscription.subscribe",
                    "params": {"channels": ["values", "lifecycle"]},
                }
            )
        )
        answers = [json.loads(await asyncio.wait_for(socket.recv(), timeout=30)) for _ in range(2)]
    assert answers[0]["type"] == "success"
    assert answers[1]["type"] == "error"
    assert answers[1]["error"] == "permission_denied"
    runs = users.stack.sql("SELECT count(*) AS n FROM runs WHERE thread_id = %s", (thread_id,))
    assert runs[0]["n"] == 1
