"""Request bodies at the edge: nesting depth, integer range and size refused with a 422/413 that
names the limit and the path, nothing stored, the connection kept; JSON parsed whatever the
Content-Type."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from graphyard import serde
from graphyard.api import json_body
from graphyard.api.app import create_app
from graphyard.api.routing import BodyRoute
from graphyard.config import Settings
from graphyard.errors import Unprocessable, Unserializable
from graphyard.graphs import AuthConfig, GraphRegistry, LoadedConfig
from tests.stack import Stack, serve_api

pytestmark = pytest.mark.core

MAX_DEPTH = Settings.model_fields["max_json_depth"].default


def nested(levels: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}``: ``levels`` objects."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_body(field: str, levels: int, extra: dict[str, Any]) -> bytes:
    """``{**extra, field: {"a": ... 1}}`` written out (json.dumps stops near 1,000 levels)."""
    head = json.dumps(extra)[1:-1].encode()
    start = b"{" + (head + b"," if head else b"") + b'"%s":' % field.encode()
    return start + b'{"a":' * levels + b"1" + b"}" * levels + b"}"


def _port(response: httpx.Response) -> int:
    """The client's local port: the same port, the same keep-alive connection."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def _counts(stack: Stack) -> dict[str, int]:
    return {
        table: stack.sql(f"SELECT count(*) AS n FROM {table}")[0]["n"]
        for table in ("threads", "assistants", "runs", "store")
    }


# route, body field holding the deep value, extra body fields
DEEP_BODIES = [
    ("POST", "/threads", "metadata", {}),
    ("POST", "/assistants", "metadata", {"graph_id": "chain"}),
    ("PUT", "/store/items", "value", {"namespace": ["n"], "key": "k"}),
    ("POST", "/runs/wait", "input", {"assistant_id": "chain"}),
]


async def test_deep_bodies_are_refused_and_the_connection_kept(api: Stack) -> None:
    before = _counts(api)
    async with httpx.AsyncClient(base_url=api.url, limits=httpx.Limits(max_connections=1)) as http:
        port = _port(await http.get("/info"))
        for method, path, field, extra in DEEP_BODIES:
            for levels in (300, 900, 5000):
                body = deep_body(field, levels, extra)
                refused = await http.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                assert refused.status_code == 422, (path, levels, refused.text)
                detail = refused.json()["detail"]
                assert f"deeper than {MAX_DEPTH} levels" in detail, detail
                assert "GRAPHYARD_MAX_JSON_DEPTH" in detail
                assert f"at {field}.a.a.a.a.a…" in detail, detail
                assert len(detail) < 300
                # The same connection serves the next request.
                ok = await http.get("/info")
                assert (ok.status_code, _port(ok)) == (200, port)
    assert _counts(api) == before


async def test_bodies_at_the_depth_limit_are_stored_and_run(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        # The body is the first level, metadata's value the second.
        deepest = nested(MAX_DEPTH - 1)
        created = await http.post("/threads", json={"metadata": deepest})
        assert created.status_code == 200, created.text
        tid = created.json()["thread_id"]
        assert (await http.get(f"/threads/{tid}")).json()["metadata"] == deepest
        too_deep = await http.post("/threads", json={"metadata": nested(MAX_DEPTH)})
        assert too_deep.status_code == 422
        assert f"at metadata.a.a.a.a.a…({MAX_DEPTH - 9} more)….a.a.a" in too_deep.text

        # A run's input as deep as a body may be runs: body, input, steps are three levels.
        value = nested(MAX_DEPTH - 3)
        ran = await http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "chain", "input": {"steps": [value]}},
        )
        assert ran.status_code == 200, ran.text
        assert ran.json()["steps"][0] == value
        assert ran.json()["steps"][1:] == [f"node_{i}" for i in range(10)]


async def test_integers_beyond_64_bits_are_refused(api: Stack) -> None:
    before = _counts(api)
    async with httpx.AsyncClient(base_url=api.url) as http:
        run = {"assistant_id": "chain"}
        cases = [
            ("/runs/wait", json.dumps({**run, "input": {"steps": [2**64]}}), "input.steps[0]"),
            ("/runs", json.dumps({**run, "input": {"n": -(2**63) - 1}}), "input.n"),
            ("/threads", json.dumps({"metadata": {"n": 2**63}}), "metadata.n"),
            (
                "/assistants",
                json.dumps({"graph_id": "chain", "config": {"x": [1, 2**70]}}),
                "config.x[1]",
            ),
            # Python refuses to print integers of more than 4,300 digits: written out.
            ("/threads/search", '{"metadata": {"n": 1' + "0" * 5000 + "}}", "metadata.n"),
        ]
        for path, text, where in cases:
            refused = await http.post(
                path, content=text, headers={"Content-Type": "application/json"}
            )
            assert refused.status_code == 422, (path, refused.text)
            assert f"64-bit range [-2**63, 2**63-1] at {where}:" in refused.json()["detail"]
        infinite = await http.post("/threads", content=b'{"metadata": {"x": 1e400}}')
        assert infinite.status_code == 422
        assert "64-bit float at metadata.x" in infinite.json()["detail"]
        for constant in (b"NaN", b"Infinity", b"-Infinity"):
            nan = await http.post("/threads", content=b'{"metadata": {"x": %s}}' % constant)
            assert nan.json() == {"detail": "Invalid JSON in request body"}
        # The extremes of the range are stored exactly.
        edges = {"lo": -(2**63), "hi": 2**63 - 1, "f": 0.1}
        kept = await http.post("/threads", json={"metadata": edges})
        assert kept.status_code == 200, kept.text
        assert kept.json()["metadata"] == edges
        got = await http.get(f"/threads/{kept.json()['thread_id']}")
        assert got.json()["metadata"] == edges
    after = _counts(api)
    assert after == {**before, "threads": before["threads"] + 1}


@pytest.mark.parametrize("settings", [{"max_body_bytes": 2000}], indirect=True)
async def test_bodies_over_the_size_limit_are_refused(api: Stack) -> None:
    before = _counts(api)
    big = {"metadata": {"text": "x" * 3000}}
    async with httpx.AsyncClient(base_url=api.url) as http:
        sized = await http.post("/threads", json=big)
        assert sized.status_code == 413
        assert sized.json() == {
            "detail": "Request body too large (limit: 2000 bytes, GRAPHYARD_MAX_BODY_BYTES)"
        }

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
            text = json.dumps(big).encode()
            for i in range(0, len(text), 500):
                yield text[i : i + 500]

        streamed = await http.post("/threads", content=chunks())
        assert streamed.status_code == 413
        assert "GRAPHYARD_MAX_BODY_BYTES" in streamed.json()["detail"]
        assert (await http.post("/threads", json={"metadata": {"text": "x"}})).status_code == 200
    assert _counts(api)["threads"] == before["threads"] + 1


async def test_json_bodies_whatever_their_content_type(api: Stack) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        for content_type in (
            "text/plain;charset=UTF-8",
            "text/plain",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            None,
        ):
            headers = {"Content-Type": content_type} if content_type else {}
            created = await http.post(
                "/threads", content=b'{"metadata": {"via": "proxy"}}', headers=headers
            )
            assert created.status_code == 200, (content_type, created.text)
            assert created.json()["metadata"] == {"via": "proxy"}
            assert created.request.headers.get("content-type") == content_type
        put = await http.put(
            "/store/items",
            content=b'{"namespace": ["n"], "key": "k", "value": {"v": 1}}',
            headers={"Content-Type": "text/plain"},
        )
        assert put.status_code == 204, put.text
        for garbage in (b"{", b"hello", b"\xff\xfe\x00", b'{"a": 1} x'):
            refused = await http.post(
                "/threads", content=garbage, headers={"Content-Type": "text/plain"}
            )
            assert refused.status_code == 422, garbage
            assert refused.json() == {"detail": "Invalid JSON in request body"}
        # Well-formed JSON of the wrong shape is FastAPI's validation, as before.
        shape = await http.post("/threads", content=b"[1]", headers={"Content-Type": "text/plain"})
        assert shape.status_code == 422
        assert "valid dictionary" in shape.json()["detail"]


async def test_auth_handlers_get_the_body_parsed_at_the_edge(
    settings: Settings, graphs: GraphRegistry
) -> None:
    project = graphs.config.project.model_copy(
        update={"auth": AuthConfig(path="./auth_body.py:auth")}
    )
    registry = GraphRegistry(LoadedConfig(graphs.config.path, project))
    async with serve_api(settings, registry) as url, httpx.AsyncClient(base_url=url) as http:
        bodies = sys.modules["auth_body"].BODIES
        created = await http.post(
            "/threads", content=b'{"metadata": {"n": 1}}', headers={"Content-Type": "text/plain"}
        )
        assert created.status_code == 200, created.text
        assert bodies == [{"metadata": {"n": 1}}]
        refused = await http.post("/threads", content=deep_body("metadata", 300, {}))
        assert refused.status_code == 422
        assert len(bodies) == 1  # refused before authentication
        assert (await http.get("/info")).status_code == 200
        await http.get(f"/threads/{created.json()['thread_id']}")
        assert bodies[1:] == [None]


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI includes routers lazily
        yield from _routes(included.routes) if included else [route]


def test_every_route_reads_its_body_through_the_edge(
    settings: Settings, graphs: GraphRegistry
) -> None:
    routes = list(_routes(create_app(settings, graphs).routes))
    with_body = [r for r in routes if getattr(r, "body_field", None) is not None]
    assert len(with_body) > 30
    loose = [r.path for r in routes if isinstance(r, APIRoute) and not isinstance(r, BodyRoute)]
    assert loose == []


async def test_a_large_body_leaves_the_event_loop_free(api: Stack) -> None:
    messages = [{"role": "user", "content": "hello " * 10, "id": str(i)} for i in range(300_000)]
    body = json.dumps({"thread_ids": [], "ignored": messages}).encode()
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        large = asyncio.create_task(http.post("/threads/prune", content=body))
        slowest = 0.0
        pings = 0
        while not large.done():
            started = time.perf_counter()
            assert (await http.get("/info")).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            pings += 1
        answer = await large
    assert answer.status_code == 200, answer.text
    print(f"{len(body) / 2**20:.1f} MiB: {pings} pings, slowest {slowest * 1000:.0f} ms")
    # Parsed on the event loop, this body stalls it 1.2 s; off it, the pauses left are the
    # garbage collector's (0.2-0.4 s on 2 busy cores).
    assert slowest < 0.75


def test_paths_name_keys_and_indexes_the_same_however_deep() -> None:
    long_key = "z" * 50

    def refusal(levels: int) -> str:
        # Under Python's recursion limit the parsed value is walked; far beyond it, the text
        # is scanned: both name the same path.
        inner = "[" * levels + "1" + "]" * levels
        text = f'{{"a": 1, "x": [0, {{"k.y": {{"b": 2, "{long_key}": {inner}}}}}]}}'
        with pytest.raises(Unprocessable) as caught:
            json_body.parse(text.encode(), max_depth=12)
        return caught.value.detail

    walked, scanned = refusal(20), refusal(5000)
    assert walked == scanned
    assert walked.endswith(f'at x[1]["k.y"]["{"z" * 40}…"][0][0]…(3 more)…[0][0][0]'), walked


def test_serde_refuses_what_it_cannot_write_with_an_error_of_its_own() -> None:
    assert serde.loads(serde.dumps(nested(300))) == nested(300)  # beyond orjson's 254 levels
    with pytest.raises(Unserializable, match="cannot be serialized as JSON"):
        serde.dumps(nested(5000))
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(Unserializable):
        serde.dumps({"a": looped})
    assert serde.dumps({"n": 2**70, "f": float("inf")}) == b'{"n":%d,"f":null}' % 2**70
