"""Request logs: one line per request with method, path, status, duration and the run/thread
it concerns; the query's values never logged; health checks quiet by default; JSON fields with
``GRAPHYARD_LOG_FORMAT=json``; the headers ``http.logging_headers`` names, credentials masked."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, LoadedConfig
from graphyard.http_config import HttpConfig
from graphyard.telemetry.logs import make_handler
from tests.stack import Stack

pytestmark = pytest.mark.core

SECRET_QUERY = "query-value-7f3e91"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "graphyard.requests"]


async def test_one_line_per_request(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="graphyard.requests")
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(tid, "chain", input={"steps": []})
    await stack.client.runs.join(tid, run["run_id"])
    async with httpx.AsyncClient(base_url=stack.url) as http:
        await http.get("/store/items", params={"namespace": SECRET_QUERY, "key": SECRET_QUERY})
        await http.get("/ok")
        await http.get("/nowhere")
        await http.post("/threads", content=b"{", headers={"content-type": "application/json"})
    lines = _lines(caplog)
    text = "\n".join(lines)
    assert SECRET_QUERY not in text
    created = next(line for line in lines if line.startswith("POST /threads/") and "/runs " in line)
    # The run's id comes from the response's Content-Location.
    assert f"run_id={run['run_id']}" in created
    assert f"thread_id={tid}" in created
    assert " 200 " in created
    assert any(
        line.startswith(f"GET /threads/{tid}/runs/{run['run_id']}/join 200") for line in lines
    )
    assert any(line.startswith("GET /store/items?key&namespace ") for line in lines)
    assert any(line.startswith("GET /nowhere 404 ") for line in lines)
    assert any(line.startswith("POST /threads 422 ") for line in lines)
    assert not any(line.startswith("GET /ok") for line in lines)
    record = next(r for r in caplog.records if r.getMessage() == created)
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


async def test_json_lines_health_checks_and_logged_headers(
    graphs: GraphRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(log_format="json", log_health_checks=True)
    http = HttpConfig.model_validate(
        {"logging_headers": {"includes": ["user-agent", "x-*", "authorization"]}}
    )
    project = graphs.config.project.model_copy(update={"http": http})
    app = create_app(settings, GraphRegistry(LoadedConfig(graphs.config.path, project)))
    out = io.StringIO()
    handler = make_handler(settings, out)
    logger = logging.getLogger("graphyard.requests")
    logger.addHandler(handler)
    caplog.set_level(logging.INFO, logger="graphyard.requests")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            await client.get(
                "/info?token=" + SECRET_QUERY,
                headers={
                    "user-agent": "tests/1.0",
                    "x-api-key": "key-should-not-show-123",
                    "authorization": "Bearer bearer-should-not-show",
                    "x-request-source": "ui",
                },
            )
            with pytest.raises(AttributeError):
                # No lifespan here: /ok fails, and is logged since health checks are on.
                await client.get("/ok")
    finally:
        logger.removeHandler(handler)
    output = out.getvalue()
    assert SECRET_QUERY not in output
    assert "should-not-show" not in output
    info, ok = (json.loads(line) for line in output.splitlines())
    assert info["method"] == "GET"
    assert info["path"] == "/info"
    assert info["status"] == 200
    assert info["query"] == ["token"]
    assert info["headers"]["user-agent"] == "tests/1.0"
    assert info["headers"]["x-request-source"] == "ui"
    assert info["headers"]["x-api-key"] == "***"
    assert info["headers"]["authorization"] == "***"
    assert (ok["path"], ok["status"], ok["level"]) == ("/ok", 500, "WARNING")
