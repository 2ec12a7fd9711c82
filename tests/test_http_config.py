"""langgraph.json's ``http`` section: a custom app served beside the API (and documented),
``disable_*``, ``mount_prefix``, ``configurable_headers`` reaching a run's config, and a
warning naming the keys graphyard does not implement."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from starlette.routing import NoMatchFound
from temporalio.testing import WorkflowEnvironment

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import GraphRegistry, LoadedConfig
from graphyard.http_config import HttpConfig
from graphyard.worker import running_worker
from tests.stack import graphyard_client, open_stack

API_KEY = "gy-http-key-5f1e9c0b7a"
THREAD = "7b1b6d0e-8f5c-4d7e-9c55-0a4c2b1e9f10"


def _registry(graphs: GraphRegistry, http: dict[str, Any], **graph_specs: str) -> GraphRegistry:
    project = graphs.config.project
    update: dict[str, Any] = {"http": HttpConfig.model_validate(http)}
    if graph_specs:
        update["graphs"] = {**project.graphs, **graph_specs}
    return GraphRegistry(LoadedConfig(graphs.config.path, project.model_copy(update=update)))


@asynccontextmanager
async def _app(
    graphs: GraphRegistry, http: dict[str, Any], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan: routing, auth, openapi and middleware need no backend."""
    app = create_app(Settings(**settings), _registry(graphs, http))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_custom_app_is_served_beside_the_api(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment
) -> None:
    registry = _registry(graphs, {"app": "./webapp.py:app"})
    temporal = graphyard_client(temporal_env, settings)
    async with open_stack(settings, registry, temporal) as stack, httpx.AsyncClient() as http:
        hello = await http.get(f"{stack.url}/custom/hello")
        assert hello.status_code == 200
        # Its state, its lifespan (run inside the API's), no auth asked.
        assert hello.json() == {"greeting": "hello", "user": None, "lifespan": "started"}
        # Its middleware wraps the API's routes too (middleware_first, the default).
        created = await stack.client.threads.create()
        got = await http.get(f"{stack.url}/threads/{created['thread_id']}")
        assert got.headers["x-custom-middleware"] == "seen"
        # It may shadow /info, not /ok, /docs or /openapi.json.
        assert (await http.get(f"{stack.url}/info")).json() == {"served_by": "custom"}
        document = (await http.get(f"{stack.url}/openapi.json")).json()
        assert "get" in document["paths"]["/custom/hello"]
        assert "/threads/{thread_id}" in document["paths"]
    # (langgraph.json's files load under their own module names, as graphs do.)
    assert sys.modules["webapp"].STARTED[-1] == "stopped"


async def test_custom_routes_with_and_without_auth(graphs: GraphRegistry) -> None:
    keys = {"api_keys": f"ci:{API_KEY}"}
    async with _app(graphs, {"app": "./webapp.py:app"}, **keys) as client:
        assert (await client.get("/custom/hello")).status_code == 200
        assert (await client.post("/threads/search", json={})).status_code == 401
        document = (await client.get("/openapi.json")).json()
        assert document["paths"]["/custom/hello"]["get"]["security"] == []
    http = {"app": "./webapp.py:app", "enable_custom_route_auth": True}
    async with _app(graphs, http, **keys) as client:
        refused = await client.get("/custom/hello")
        assert refused.status_code == 401
        assert "x-api-key" in refused.json()["detail"]
        hello = await client.get("/custom/hello", headers={"x-api-key": API_KEY})
        assert hello.status_code == 200
        assert hello.json()["user"] == "ci"
        document = (await client.get("/openapi.json")).json()
        # It needs what the whole document needs.
        assert "security" not in document["paths"]["/custom/hello"]["get"]
        assert document["security"] == [{"ApiKey": []}]
    http = {**http, "middleware_order": "auth_first"}
    async with _app(graphs, http, **keys) as client:
        # Browsers' preflights carry no credentials: answered before authentication.
        preflight = await client.options(
            "/custom/hello",
            headers={"Origin": "http://page", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200
        # Auth runs before the user's middleware: a refusal never reaches it.
        refused = await client.get("/custom/hello")
        assert refused.status_code == 401
        assert "x-custom-middleware" not in refused.headers
        hello = await client.get("/custom/hello", headers={"x-api-key": API_KEY})
        assert hello.headers["x-custom-middleware"] == "seen"
        assert hello.json()["user"] == "ci"
        # The API's protected routes too; its open ones pass through the middleware.
        refused = await client.post("/threads/search", json={})
        assert refused.status_code == 401
        assert "x-custom-middleware" not in refused.headers
        assert (await client.get("/docs")).headers["x-custom-middleware"] == "seen"


async def test_a_starlette_app_is_listed_too(graphs: GraphRegistry) -> None:
    async with _app(graphs, {"app": "./webapp.py:starlette_app"}) as client:
        assert (await client.get("/plain")).json() == {"plain": True}
        operation = (await client.get("/openapi.json")).json()["paths"]["/plain"]["get"]
        assert operation["summary"] == "A plain Starlette endpoint."


def test_a_custom_app_that_is_not_an_app_is_refused(graphs: GraphRegistry) -> None:
    with pytest.raises(ConfigError, match=r"http\.app.*not a Starlette or FastAPI app"):
        create_app(Settings(), _registry(graphs, {"app": "./webapp.py:not_an_app"}))
    with pytest.raises(ConfigError, match=r"http\.app.*has no variable"):
        create_app(Settings(), _registry(graphs, {"app": "./webapp.py:nothing"}))


@pytest.mark.parametrize(
    ("group", "gone", "kept"),
    [
        ("assistants", ["/assistants/search", "/assistants/{assistant_id}/graph"], "/threads"),
        ("threads", ["/threads/search", "/threads/{thread_id}/state"], "/assistants/search"),
        ("runs", ["/runs/stream", "/threads/{thread_id}/runs", "/runs/crons"], "/threads"),
        ("store", ["/store/items"], "/threads"),
    ],
)
async def test_disabled_route_groups_are_gone(
    graphs: GraphRegistry, group: str, gone: list[str], kept: str
) -> None:
    async with _app(graphs, {f"disable_{group}": True}) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert kept in paths
        for path in gone:
            assert path not in paths
            concrete = path.replace("{assistant_id}", THREAD).replace("{thread_id}", THREAD)
            assert (await client.post(concrete, json={})).status_code == 404, path


async def test_disable_meta_keeps_only_ok(graphs: GraphRegistry) -> None:
    app = create_app(Settings(), _registry(graphs, {"disable_meta": True}))
    assert app.url_path_for("ok") == "/ok"
    with pytest.raises(NoMatchFound):
        app.url_path_for("info")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path in ("/", "/info", "/docs", "/openapi.json", "/metrics"):
            assert (await client.get(path)).status_code == 404, path


async def test_mount_prefix(graphs: GraphRegistry) -> None:
    async with _app(graphs, {"mount_prefix": "/my-api/"}) as client:
        assert (await client.get("/my-api/info")).status_code == 200
        assert (await client.get("/info")).status_code == 404
        document = (await client.get("/my-api/openapi.json")).json()
        assert document["servers"] == [{"url": "/my-api"}]
        assert "/threads/search" in document["paths"]
        assert "/my-api/openapi.json" in (await client.get("/my-api/docs")).text
        preflight = await client.options(
            "/my-api/threads/search",
            headers={"Origin": "http://page", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
    # The environment's prefix wins over langgraph.json's.
    async with _app(graphs, {"mount_prefix": "/json"}, mount_prefix="/env") as client:
        assert (await client.get("/env/info")).status_code == 200
        assert (await client.get("/json/info")).status_code == 404
    with pytest.raises(ValueError, match="must start with '/'"):
        HttpConfig.model_validate({"mount_prefix": "api"})


async def test_mount_prefix_serves_the_api(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment
) -> None:
    registry = _registry(graphs, {"mount_prefix": "/agents"})
    temporal = graphyard_client(temporal_env, settings)
    async with open_stack(settings, registry, temporal) as stack, httpx.AsyncClient() as http:
        client = get_client(url=f"{stack.url}/agents", api_key=None)
        thread = await client.threads.create(metadata={"mounted": True})
        found = await client.threads.search(metadata={"mounted": True})
        assert [t["thread_id"] for t in found] == [thread["thread_id"]]
        # Load balancers' probes stay at the root (503: no worker here), and under the prefix.
        assert (await http.get(f"{stack.url}/ok")).status_code == 503
        assert (await http.get(f"{stack.url}/agents/ok")).status_code == 503
        assert (await http.get(f"{stack.url}/metrics")).status_code == 200
        assert (await http.post(f"{stack.url}/threads/search", json={})).status_code == 404


async def test_unknown_http_keys_are_named_at_start(
    graphs: GraphRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="graphyard.api.http_app"):
        create_app(Settings(), _registry(graphs, {"disable_studio": True, "cors_typo": {}}))
    (record,) = [r for r in caplog.records if r.name == "graphyard.api.http_app"]
    assert "cors_typo, disable_studio" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_app(Settings(), _registry(graphs, {"disable_mcp": True, "disable_ui": True}))
    assert not [r for r in caplog.records if r.name == "graphyard.api.http_app"]


ECHO = {"echo": "./echo_config.py:graph"}
HEADERS_HTTP = {"configurable_headers": {"includes": ["x-*", "user-agent"], "excludes": ["x-no-*"]}}


@pytest.mark.parametrize("settings", [{"secret_check_allow": ["x-session-token"]}], indirect=True)
async def test_configurable_headers_reach_the_run(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment
) -> None:
    registry = _registry(graphs, HEADERS_HTTP, **ECHO)
    temporal = graphyard_client(temporal_env, settings)
    async with (
        open_stack(settings, registry, temporal) as stack,
        running_worker(settings, temporal, registry),
    ):
        sent = {
            "x-user-id": "u-1",
            "x-no-forward": "dropped by excludes",
            "user-agent": "browser/1.0",
            "authorization": "Bearer never-copied-1234567890",
            "x-session-token": "allowed-by-settings",
            "accept-language": "not included",
        }
        client = get_client(url=stack.url, api_key="never-copied-123456", headers=sent)
        thread = await client.threads.create()
        result = await client.runs.wait(thread["thread_id"], "echo", input={})
        configurable = result["seen"]
        assert configurable["x-user-id"] == "u-1"
        assert configurable["user-agent"] == "browser/1.0"
        assert configurable["x-session-token"] == "allowed-by-settings"
        for absent in ("x-no-forward", "x-api-key", "authorization", "accept-language"):
            assert absent not in configurable
        # A credential-looking header is refused loudly, never dropped silently.
        async with httpx.AsyncClient(base_url=stack.url) as http:
            refused = await http.post(
                f"/threads/{thread['thread_id']}/runs",
                json={"assistant_id": "echo", "input": {}},
                headers={"x-auth-token": "abcdef123"},
            )
        assert refused.status_code == 422
        assert "'x-auth-token'" in refused.json()["detail"]
        assert "abcdef123" not in refused.text
