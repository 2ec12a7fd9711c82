"""Traces, metrics and logs of runs: one trace per run from the HTTP request down to each
node; Prometheus counters that move as runs end; log lines that name their run."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from graphyard.config import Settings
from graphyard.devstack.ports import free_port
from graphyard.graphs import GraphRegistry
from graphyard.telemetry import logs, tracing
from graphyard.temporal import connect
from graphyard.worker import running_worker
from tests.stack import Stack, serve_api


async def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    """``check()`` once it is truthy (or its last value past the deadline)."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


@pytest.mark.parametrize(
    "settings", [{"otlp_endpoint": "http://127.0.0.1:9", "step_activity": "local"}], indirect=True
)
async def test_a_run_is_one_trace_from_the_request_to_each_node(
    settings: Settings, graphs: GraphRegistry
) -> None:
    # The first setup in the process decides the exporter: spans stay in memory.
    exporter = InMemorySpanExporter()
    assert tracing.setup(settings, "graphyard-test", exporter=exporter)
    client = await connect(settings)  # with the tracing interceptor
    async with serve_api(settings, graphs) as url, running_worker(settings, client, graphs):
        sdk = get_client(url=url)
        thread = await sdk.threads.create()
        await sdk.runs.wait(thread["thread_id"], "approval", input={"request": "ship"})
        await sdk.runs.wait(thread["thread_id"], "approval", command={"resume": True})
        (run,) = await sdk.runs.list(thread["thread_id"])

        def finished() -> list[ReadableSpan]:
            spans = list(exporter.get_finished_spans())
            return spans if any(s.name == "RunWorkflow:RunWorkflow" for s in spans) else []

        spans = await eventually(finished)
    by_id = {s.context.span_id: s for s in spans}

    def parent(span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, span.name
        return by_id[span.parent.span_id]

    (workflow,) = [
        s
        for s in spans
        if s.name == "RunWorkflow:RunWorkflow"
        and s.attributes
        and s.attributes["temporalWorkflowID"] == f"run-{run['run_id']}"
    ]
    start = parent(workflow)
    assert start.name == "StartWorkflow:RunWorkflow"
    request = parent(start)
    assert request.name == "POST /threads/{thread_id}/runs/wait"
    assert request.parent is None  # the request is the trace's root
    nodes = [
        s
        for s in spans
        if s.name.startswith("node ") and s.context.trace_id == request.context.trace_id
    ]
    assert [s.name for s in sorted(nodes, key=lambda s: s.start_time or 0)] == [
        "node draft",
        "node ask",
        "node ask",  # resumed
        "node act",
    ]
    for node in nodes:
        activity = parent(node)
        assert activity.name == "RunActivity:graphyard.step"
        scheduled = parent(activity)
        assert scheduled.name == "StartActivity:graphyard.step"
        assert parent(scheduled) is workflow
        assert node.attributes
        assert node.attributes["graphyard.run_id"] == run["run_id"]
    # The run's whole execution, even its resumption by a later request, is one trace.
    assert workflow.context.trace_id == request.context.trace_id
    assert {s.context.trace_id for s in spans if "graphyard.step" in s.name} == {
        request.context.trace_id
    }


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text as ``{(sample name, sorted labels): value}``."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize(
    "settings",
    [
        {
            "worker_metrics_port": free_port(),
            "temporal_metrics_port": free_port(),
            "step_initial_retry_interval": timedelta(milliseconds=20),
        }
    ],
    indirect=True,
)
async def test_metrics_move_when_runs_end(api: Stack, graphs: GraphRegistry) -> None:
    settings = api.settings
    worker_url = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    sdk_url = f"http://127.0.0.1:{settings.temporal_metrics_port}/metrics"
    client = await connect(settings)  # with the Temporal SDK's metrics endpoint
    async with httpx.AsyncClient() as http, running_worker(settings, client, graphs):

        async def both() -> tuple[dict[Any, float], dict[Any, float]]:
            worker = await http.get(worker_url)
            api_side = await http.get(f"{api.url}/metrics")
            assert worker.status_code == api_side.status_code == 200
            return scrape(worker.text), scrape(api_side.text)

        worker0, api0 = await both()
        tid = (await api.client.threads.create())["thread_id"]
        await api.client.runs.wait(tid, "chain", input={"steps": []})
        await api.client.runs.wait(tid, "failing", input={}, raise_error=False)
        worker1, api1 = await both()

        def delta(before: dict[Any, float], after: dict[Any, float], name: str, **kw: str) -> float:
            return value(after, name, **kw) - value(before, name, **kw)

        finished = "graphyard_runs_finished_total"
        assert delta(worker0, worker1, finished, graph_id="chain", status="success") == 1
        assert delta(worker0, worker1, finished, graph_id="failing", status="error") == 1
        duration = "graphyard_run_duration_seconds_count"
        assert delta(worker0, worker1, duration, graph_id="chain", status="success") == 1
        steps = "graphyard_step_duration_seconds_count"
        assert delta(worker0, worker1, steps, graph_id="chain", outcome="continue") == 9
        assert delta(worker0, worker1, steps, graph_id="chain", outcome="done") == 1
        assert delta(worker0, worker1, steps, graph_id="failing", outcome="error") == 3
        retries = "graphyard_step_retries_total"
        assert delta(worker0, worker1, retries, graph_id="failing") == 2
        wait = "graphyard_run_queue_wait_seconds_count"
        assert delta(worker0, worker1, wait, graph_id="chain") == 1
        created = "graphyard_runs_created_total"
        assert delta(api0, api1, created, graph_id="chain") == 1
        assert delta(api0, api1, created, graph_id="failing") == 1
        assert value(api1, "graphyard_live_runs", status="running") >= 0
        assert ("graphyard_live_runs", (("status", "interrupted"),)) in api1

        # A thread stream counts while it is open.
        streams = ("graphyard_active_streams", (("kind", "thread"),))
        async with http.stream("GET", f"{api.url}/threads/{tid}/stream") as response:
            assert response.status_code == 200
            opened = await eventually_async(lambda: both(), lambda s: s[1].get(streams) == 1)
            assert opened
        closed = await eventually_async(lambda: both(), lambda s: s[1].get(streams) == 0)
        assert closed

        # The Temporal SDK's own metrics, from the worker's runtime.
        sdk = (await http.get(sdk_url)).text
        assert "temporal_workflow_completed_total" in sdk
        assert "temporal_local_activity_execution_latency_seconds" in sdk


async def eventually_async(
    fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 10
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok(await fetch()):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize(
    "settings", [{"step_initial_retry_interval": timedelta(milliseconds=20)}], indirect=True
)
async def test_log_lines_of_a_run_name_it_as_json(stack: Stack) -> None:
    buffer = io.StringIO()
    handler = logs.make_handler(stack.settings.model_copy(update={"log_format": "json"}), buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        tid = (await stack.client.threads.create())["thread_id"]
        await stack.client.runs.wait(tid, "failing", input={}, raise_error=False)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    (run,) = await stack.client.runs.list(tid)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    node = [line for line in lines if line["logger"] == "tests.graphs.failing"]
    assert node, lines
    for line in node:
        assert (line["run_id"], line["thread_id"]) == (run["run_id"], tid)
        assert line["graph_id"] == "failing"
        assert line["level"] == "INFO"
        assert "hunter2" not in line["message"]
        assert "postgresql://app:***@db/app" in line["message"]
    # The Temporal SDK's own lines about the run's failed attempts name it too.
    failures = [
        line for line in lines if line["message"].startswith("Completing activity as failed")
    ]
    assert failures
    assert all(line["run_id"] == run["run_id"] for line in failures)
    assert all("kaboom" in line.get("exc_info", "") for line in failures)


def test_secrets_are_masked_in_log_lines() -> None:
    logs.register_secrets({"OPENAI_API_KEY": "sk-abcdef123456", "LOG_LEVEL": "debugging"})
    masked = logs.redact(
        "key sk-abcdef123456 api_key=xyz789 password: 'p@ss' Authorization: Bearer tok.en "
        "url https://user:pw@example.com/x level debugging"
    )
    assert masked == (
        "key *** api_key=*** password: '***' Authorization: Bearer *** "
        "url https://user:***@example.com/x level debugging"
    )
    buffer = io.StringIO()
    handler = logs.make_handler(Settings(log_format="json"), buffer)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("cannot reach postgresql://app:sk-abcdef123456@db/app")
        except RuntimeError:
            logger.exception("failed with %s", "sk-abcdef123456")
    finally:
        logger.removeHandler(handler)
    line = json.loads(buffer.getvalue())
    assert line["message"] == "failed with ***"
    assert "sk-abcdef" not in line["exc_info"]
    assert "postgresql://app:***@db/app" in line["exc_info"]
