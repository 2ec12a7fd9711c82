"""The OpenAPI description: complete, and fuzzed with schemathesis against the real stack."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from graphyard.api.app import create_app
from graphyard.codec import new_key_line
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry
from tests.stack import TEST_CONFIG, Stack


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Fuzzed runs mostly fail: fail them at once instead of retrying.
    return settings.model_copy(update={"step_max_attempts": 1})


@pytest.mark.slow
@pytest.mark.fuzz
async def test_schemathesis_finds_no_server_error(stack: Stack, tmp_path: Path) -> None:
    # In a subprocess: the API under test runs in this event loop; loopback only. Routes that
    # hold the request until a run ends (wait, join, streams) are left out: a fuzzed run may
    # start years from now. Their bodies are the background routes' bodies, fuzzed there.
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{stack.url}/openapi.json",
        "--checks=not_a_server_error,response_schema_conformance",
        "--max-examples=12",
        # Not "coverage": on Python 3.11 its generator for free-form objects (metadata) can
        # crash inside CPython's AST recursion check, a schemathesis-side error.
        "--phases=examples,fuzzing,stateful",
        "--workers=2",
        "--seed=20261126",
        "--exclude-path-regex=/(wait|join|stream|stream/events)$",
        "--request-timeout=30",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its example cache: each run starts clean
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode()
    assert proc.returncode == 0, report[-6000:]


async def test_every_route_documents_its_response(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        spec = (await http.get("/openapi.json")).json()
    untyped = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            ok = [code for code in responses if code.startswith("2")]
            assert ok, f"{method} {path} documents no success response"
            body = responses[ok[0]].get("content", {})
            if "$ref" not in str(body) and "text/event-stream" not in body:
                untyped.add(f"{method.upper()} {path}")
    # These answer a bare count, any JSON (the run's values), or nothing; the agent protocols
    # answer JSON-RPC (and A2A cards) whose schemas are the mcp and a2a specs'.
    assert untyped == {
        "POST /assistants/count",
        "POST /threads/count",
        "POST /runs/crons/count",
        "DELETE /runs/crons/{cron_id}",
        "DELETE /assistants/{assistant_id}",
        "DELETE /threads/{thread_id}",
        "DELETE /threads/{thread_id}/runs/{run_id}",
        "PUT /store/items",
        "DELETE /store/items",
        "POST /runs/cancel",
        "POST /threads/{thread_id}/runs/{run_id}/cancel",
        "POST /runs/wait",
        "POST /threads/{thread_id}/runs/wait",
        "GET /threads/{thread_id}/runs/{run_id}/join",
        "POST /mcp",
        "POST /a2a/{assistant_id}",
        "GET /a2a/{assistant_id}/.well-known/agent-card.json",
    }


def test_every_operation_has_a_description(graphs: GraphRegistry) -> None:
    # FastAPI takes an operation's description from its handler's docstring: /docs shows it.
    # Every optional route is on (the codec endpoint needs keys), so none goes unchecked.
    settings = Settings(config_path=TEST_CONFIG, codec_endpoint=True, codec_keys=new_key_line("k1"))
    spec = create_app(settings, graphs).openapi()
    operations = {
        f"{method.upper()} {path}": operation.get("description", "").strip()
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert {"POST /codec/decode", "GET /ok", "POST /threads/{thread_id}/runs"} <= set(operations)
    undocumented = sorted(name for name, description in operations.items() if not description)
    assert undocumented == []


async def test_what_the_fuzzer_found_stays_fixed(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    assistant = await stack.client.assistants.create(graph_id="chain")
    async with httpx.AsyncClient(base_url=stack.url) as http:
        # NUL and lone surrogates in JSON values are stored; integers beyond 64 bits refused.
        search = await http.post(
            "/threads/search",
            content=b'{"metadata": {"s": "a\\u0000b\\ud800"}}',
            headers={"Content-Type": "application/json"},
        )
        assert (search.status_code, search.json()) == (200, [])
        huge = await http.post("/threads/search", json={"metadata": {"n": 2**70}})
        assert huge.status_code == 422
        patched = await http.patch(f"/threads/{tid}", json={"metadata": {"s": "x\x00"}})
        assert patched.json()["metadata"]["s"] == "x\ufffd"
        # NUL in a plain text field is refused.
        named = await http.patch(f"/assistants/{assistant['assistant_id']}", json={"name": "a\x00"})
        assert named.status_code == 422
        assert "NUL" in named.json()["detail"]
        # Offsets beyond bigint, unknown as_node, delays beyond ten years: 4xx.
        far = await http.post("/threads/search", json={"offset": 2**70})
        assert far.status_code == 422
        node = await http.post(f"/threads/{tid}/state", json={"values": {}, "as_node": ""})
        assert node.status_code in (400, 422)
        late = await http.post(
            f"/threads/{tid}/runs", json={"assistant_id": "chain", "after_seconds": 1e12}
        )
        assert late.status_code == 422
