"""CORS: browsers on another origin reach every route. Preflights answer 200 before routing
(SSE streams and protected routes included, without credentials); simple requests carry
Access-Control-Allow-Origin and expose the headers clients read; ``http.cors`` and the
environment override are honoured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, LoadedConfig
from graphyard.http_config import CorsConfig, HttpConfig
from tests.stack import Stack

pytestmark = pytest.mark.core

PAGE = "http://localhost:5173"
API_KEY = "gy-cors-key-5f1e9c0b7a"
THREAD = "7b1b6d0e-8f5c-4d7e-9c55-0a4c2b1e9f10"


def _preflight(method: str = "POST", headers: str = "content-type") -> dict[str, str]:
    return {
        "Origin": PAGE,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize("settings", [{"api_keys": f"ci:{API_KEY}"}], indirect=True)
async def test_every_route_answers_a_browser(api: Stack) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        for method, path in [
            ("POST", "/threads/search"),
            ("POST", "/threads"),
            ("POST", f"/threads/{THREAD}/runs/stream"),
            ("GET", f"/threads/{THREAD}/stream"),
            ("GET", f"/threads/{THREAD}/history"),
            ("DELETE", f"/threads/{THREAD}"),
            ("PUT", "/store/items"),
            ("GET", "/info"),
        ]:
            # The preflight carries no credentials, though every route but /info needs a key.
            answer = await http.options(path, headers=_preflight(method, "content-type,x-api-key"))
            assert answer.status_code == 200, (method, path, answer.text)
            assert answer.headers["access-control-allow-origin"] == "*"
            assert method in answer.headers["access-control-allow-methods"]
            assert answer.headers["access-control-allow-headers"] == "content-type,x-api-key"
            assert "access-control-allow-credentials" not in answer.headers

        searched = await http.post(
            "/threads/search", json={}, headers={"Origin": PAGE, "x-api-key": API_KEY}
        )
        assert searched.status_code == 200
        assert searched.headers["access-control-allow-origin"] == "*"
        exposed = searched.headers["access-control-expose-headers"].lower()
        for header in ("content-location", "location", "x-pagination-total", "x-pagination-next"):
            assert header in exposed
        assert "x-pagination-total" in searched.headers

        # A refusal is readable by the page too (the browser shows the 401, not a CORS error).
        refused = await http.post("/threads/search", json={}, headers={"Origin": PAGE})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "*"


@asynccontextmanager
async def _app(
    graphs: GraphRegistry, settings: Settings, http: HttpConfig
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan: preflights and /info need no Temporal or Postgres."""
    project = graphs.config.project.model_copy(update={"http": http})
    app = create_app(settings, GraphRegistry(LoadedConfig(graphs.config.path, project)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_http_cors_explicit_origins_allow_credentials(graphs: GraphRegistry) -> None:
    http = HttpConfig(cors=CorsConfig(allow_origins=[PAGE], max_age=42))
    async with _app(graphs, Settings(), http) as client:
        allowed = await client.options("/threads/search", headers=_preflight())
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == PAGE
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert allowed.headers["access-control-max-age"] == "42"
        other = await client.options(
            "/threads/search", headers={**_preflight(), "Origin": "http://evil.example"}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        info = await client.get("/info", headers={"Origin": PAGE})
        assert info.headers["access-control-allow-origin"] == PAGE
        info = await client.get("/info", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in info.headers


async def test_http_cors_regex_methods_and_exposed_headers(graphs: GraphRegistry) -> None:
    http = HttpConfig(
        cors=CorsConfig(
            allow_origin_regex=r"https://.*\.example\.com",
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
            allow_credentials=False,
            expose_headers=["X-Custom"],
        )
    )
    async with _app(graphs, Settings(), http) as client:
        page = "https://app.example.com"
        ok = await client.options("/threads/search", headers={**_preflight(), "Origin": page})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == page
        assert "access-control-allow-credentials" not in ok.headers
        delete = await client.options(
            "/threads/search", headers={**_preflight("DELETE"), "Origin": page}
        )
        assert delete.status_code == 400
        header = await client.options(
            "/threads/search", headers={**_preflight("POST", "x-other"), "Origin": page}
        )
        assert header.status_code == 400
        elsewhere = await client.options(
            "/threads/search", headers={**_preflight(), "Origin": "https://example.org"}
        )
        assert elsewhere.status_code == 400
        info = await client.get("/info", headers={"Origin": page})
        exposed = info.headers["access-control-expose-headers"]
        assert "X-Custom" in exposed
        assert "Content-Location" in exposed  # graphyard's own stay exposed


async def test_environment_overrides_http_cors(
    graphs: GraphRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = HttpConfig(cors=CorsConfig(allow_origins=["http://from-json.example"]))
    monkeypatch.setenv("GRAPHYARD_CORS_CONFIG", f'{{"allow_origins": ["{PAGE}"]}}')
    async with _app(graphs, Settings(), http) as client:
        answer = await client.options("/threads/search", headers=_preflight())
        assert answer.headers["access-control-allow-origin"] == PAGE
        json_origin = await client.options(
            "/threads/search", headers={**_preflight(), "Origin": "http://from-json.example"}
        )
        assert json_origin.status_code == 400
    monkeypatch.delenv("GRAPHYARD_CORS_CONFIG")
    monkeypatch.setenv("GRAPHYARD_CORS_ALLOW_ORIGINS", f"{PAGE}, http://other.example")
    async with _app(graphs, Settings(), HttpConfig()) as client:
        answer = await client.options("/threads/search", headers=_preflight())
        assert answer.headers["access-control-allow-origin"] == PAGE
        assert answer.headers["access-control-allow-credentials"] == "true"


async def test_private_network_preflights(graphs: GraphRegistry) -> None:
    headers = {**_preflight(), "Access-Control-Request-Private-Network": "true"}
    async with _app(graphs, Settings(), HttpConfig()) as client:
        refused = await client.options("/threads/search", headers=headers)
        assert refused.status_code == 400
        assert "private-network" in refused.text
    async with _app(graphs, Settings(cors_allow_private_network=True), HttpConfig()) as client:
        allowed = await client.options("/threads/search", headers=headers)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-private-network"] == "true"


def test_bad_cors_config_is_refused() -> None:
    with pytest.raises(ValueError, match="allow_origin_regex"):
        HttpConfig.model_validate({"cors": {"allow_origin_regex": "("}})
    with pytest.raises(ValueError, match="allow_origin"):
        HttpConfig.model_validate({"cors": {"allow_origin": ["*"]}})


async def test_a_stream_reaches_a_page_on_another_origin(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    path = f"/threads/{thread['thread_id']}/runs/stream"
    body = {"assistant_id": "chain", "input": {"steps": []}, "stream_mode": ["values"]}
    async with (
        httpx.AsyncClient(base_url=stack.url) as http,
        http.stream("POST", path, json=body, headers={"Origin": PAGE}) as streamed,
    ):
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.headers["access-control-allow-origin"] == "*"
        assert "Content-Location" in streamed.headers["access-control-expose-headers"]
        run_path = streamed.headers["content-location"]
        text = "".join([chunk async for chunk in streamed.aiter_text()])
    assert "event: values" in text
    assert "node_9" in text
    assert run_path.startswith(f"/threads/{thread['thread_id']}/runs/")
