"""Webhooks: a run's end is POSTed to its ``webhook``, signed, retried with a capped policy, and
the outcome recorded on the run without changing its status; URLs langgraph.json's
``webhooks.url`` refuses are a 422 that creates nothing. Receivers are real HTTP servers on
loopback (the tests' langgraph.json sets ``disable_loopback: false``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from graphyard.config import Settings
from graphyard.errors import ConfigError, Unprocessable
from graphyard.graphs import GraphRegistry, LoadedConfig, load_config
from graphyard.runs import rules
from graphyard.runs.request import RunCreate
from graphyard.types import WEBHOOK_ACTIVITY, WEBHOOK_WORKFLOW, run_workflow_id
from graphyard.webhooks import (
    WebhooksConfig,
    WebhookUrlError,
    WebhookUrlRules,
    check_url,
    domain_matches,
)
from graphyard.worker import running_worker
from tests.receiver import Received, receiving
from tests.stack import Stack

SECRET = "whsec-test"
HEADERS = {"Authorization": "Bearer ${{ env.LG_WEBHOOK_TOKEN }}", "X-Team": "graphs"}
LOOPBACK_ALLOWED = {"url": {"disable_loopback": False}, "headers": HEADERS}
STRICT = {
    "url": {
        "require_https": True,
        "allowed_domains": ["*.example.com"],
        "allowed_ports": [443],
        "max_url_length": 80,
    }
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Three attempts, 50 ms apart: a failing receiver gives up in a fraction of a second.
    return settings.model_copy(
        update={
            "webhook_secret": SecretStr(SECRET),
            "webhook_max_attempts": 3,
            "webhook_initial_retry_interval": timedelta(milliseconds=50),
            "webhook_backoff_coefficient": 1.0,
            "webhook_timeout": timedelta(seconds=5),
        }
    )


def _with_webhooks(graphs: GraphRegistry, webhooks: dict[str, Any]) -> GraphRegistry:
    project = graphs.config.project.model_copy(
        update={"webhooks": WebhooksConfig.model_validate(webhooks)}
    )
    return GraphRegistry(LoadedConfig(graphs.config.path, project))


@pytest.fixture
def graphs(graphs: GraphRegistry, request: pytest.FixtureRequest) -> GraphRegistry:
    """The tests' graphs with ``webhooks`` replaced (parametrize indirectly with one)."""
    return _with_webhooks(graphs, getattr(request, "param", LOOPBACK_ALLOWED))


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LG_WEBHOOK_TOKEN", "t0ken")


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """What a receiver does (as README shows): recompute the HMAC, compare in constant
    time, refuse old timestamps."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, fields["v1"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """Poll ``check`` until it holds, up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def deliveries(stack: Stack, run_id: str) -> list[str]:
    """The IDs of the webhook workflows the run's workflow started."""
    history = await stack.temporal.get_workflow_handle(run_workflow_id(run_id)).fetch_history()
    return [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        and e.child_workflow_execution_started_event_attributes.workflow_type.name
        == WEBHOOK_WORKFLOW
    ]


async def closed(stack: Stack, run_id: str) -> WorkflowExecutionStatus | None:
    """Wait for the run's workflow to close, then for its webhook's (delivered or given up)."""
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 60)
    for workflow_id in await deliveries(stack, run_id):
        await asyncio.wait_for(stack.temporal.get_workflow_handle(workflow_id).result(), 60)
    return (await handle.describe()).status


async def webhook_activities(stack: Stack, run_id: str) -> int:
    """How many times the run's webhook workflows scheduled the delivery activity."""
    count = 0
    for workflow_id in await deliveries(stack, run_id):
        history = await stack.temporal.get_workflow_handle(workflow_id).fetch_history()
        count += sum(
            1
            for event in history.events
            if event.activity_task_scheduled_event_attributes.activity_type.name == WEBHOOK_ACTIVITY
        )
    return count


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_receiver_gets_the_signed_payload_once(stack: Stack) -> None:
    async with receiving() as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        values = await stack.client.runs.wait(
            tid, "chain", input={"steps": []}, metadata={"who": "test"}, webhook=receiver.url
        )
        (run,) = await stack.client.runs.list(tid)
        assert await closed(stack, run["run_id"]) == WorkflowExecutionStatus.COMPLETED
        (got,) = receiver.received
    assert got.headers["content-type"] == "application/json"
    assert got.headers["authorization"] == "Bearer t0ken"
    assert got.headers["x-team"] == "graphs"
    assert verify(SECRET, got.headers["x-graphyard-signature"], got.body)
    assert not verify("another secret", got.headers["x-graphyard-signature"], got.body)
    assert not verify(SECRET, got.headers["x-graphyard-signature"], got.body + b" ")
    payload = got.payload
    run = await stack.client.runs.get(tid, run["run_id"])
    for key in ("run_id", "thread_id", "assistant_id", "metadata", "multitask_strategy"):
        assert payload[key] == run[key]
    assert payload["kwargs"]["webhook"] == receiver.url
    assert payload["kwargs"]["input"] == {"steps": []}
    assert payload["status"] == "success"
    assert payload["values"] == values
    assert "error" not in payload
    assert _stamp(payload["created_at"]) == _stamp(run["created_at"])
    assert _stamp(payload["updated_at"]) == _stamp(run["updated_at"])
    started, ended = _stamp(payload["run_started_at"]), _stamp(payload["run_ended_at"])
    assert started <= ended <= _stamp(payload["webhook_sent_at"])
    delivery = run["webhook_delivery"]
    assert delivery["status"] == "delivered"
    assert (delivery["attempts"], delivery["status_code"], delivery["last_error"]) == (1, 200, None)
    # The delivery is recorded on the run; its status (and updated_at) stay.
    assert run["status"] == "success"
    assert await webhook_activities(stack, run["run_id"]) == 1


async def test_a_slow_receiver_holds_up_no_later_run(stack: Stack) -> None:
    async with receiving() as receiver:
        receiver.open.clear()  # the receiver takes the request and does not answer yet
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        first = await stack.client.runs.create(
            tid, "chain", input={"steps": []}, webhook=receiver.url
        )
        second = await stack.client.runs.create(tid, "chain", input={"steps": []})
        await receiver.wait_for(1)
        # The thread's next run ran while the first run's webhook was still unanswered.
        await asyncio.wait_for(stack.client.runs.join(tid, second["run_id"]), 30)
        assert len(receiver.received) == 1  # its first attempt, still held (5 s timeout)
        receiver.open.set()
        await closed(stack, first["run_id"])
    delivery = (await stack.client.runs.get(tid, first["run_id"]))["webhook_delivery"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


async def test_a_receiver_failing_twice_gets_the_payload_once_more(stack: Stack) -> None:
    async with receiving(plan=[500, 500]) as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        await stack.client.runs.wait(tid, "chain", input={"steps": []}, webhook=receiver.url)
        (run,) = await stack.client.runs.list(tid)
        await closed(stack, run["run_id"])
        received = list(receiver.received)
    assert [r.answered for r in received] == [500, 500, 200]
    assert all(verify(SECRET, r.headers["x-graphyard-signature"], r.body) for r in received)

    def same(r: Received) -> dict[str, Any]:
        return {k: v for k, v in r.payload.items() if k != "webhook_sent_at"}

    assert same(received[0]) == same(received[1]) == same(received[2])
    run = await stack.client.runs.get(tid, run["run_id"])
    assert run["status"] == "success"
    assert run["webhook_delivery"]["status"] == "delivered"
    assert run["webhook_delivery"]["attempts"] == 3


async def test_a_receiver_that_always_fails_leaves_the_run_success(stack: Stack) -> None:
    async with receiving(then=500) as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        await stack.client.runs.wait(tid, "chain", input={"steps": []}, webhook=receiver.url)
        (run,) = await stack.client.runs.list(tid)
        # The run's workflow completes: the run succeeded, only its webhook failed.
        assert await closed(stack, run["run_id"]) == WorkflowExecutionStatus.COMPLETED
        assert len(receiver.received) == 3  # webhook_max_attempts
    run = await stack.client.runs.get(tid, run["run_id"])
    assert run["status"] == "success"
    delivery = run["webhook_delivery"]
    assert delivery["status"] == "failed"
    assert (delivery["attempts"], delivery["status_code"]) == (3, 500)
    assert delivery["last_error"] == "the receiver answered HTTP 500"
    assert (await stack.client.threads.get(tid))["status"] == "idle"


async def test_a_failed_run_reports_its_error_before_its_workflow_fails(stack: Stack) -> None:
    async with receiving() as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        await stack.client.runs.wait(
            tid, "failing", input={}, webhook=receiver.url, raise_error=False
        )
        (run,) = await stack.client.runs.list(tid)
        assert await closed(stack, run["run_id"]) == WorkflowExecutionStatus.FAILED
        (got,) = receiver.received
    payload = got.payload
    assert payload["status"] == "error"
    assert payload["error"]["error"] == "ValueError"
    assert payload["error"]["message"] == "kaboom"
    assert payload["values"] == {"value": "ok"}  # the state the failing step started from
    run = await stack.client.runs.get(tid, run["run_id"])
    assert (run["status"], run["webhook_delivery"]["status"]) == ("error", "delivered")


async def test_a_stateless_run_reports_its_values(stack: Stack) -> None:
    async with receiving() as receiver:
        values = await stack.client.runs.wait(
            None, "chain", input={"steps": []}, webhook=receiver.url
        )
        (got,) = await receiver.wait_for(1)
    # Its thread and checkpoints are gone; the values it ended with were kept for this.
    assert got.payload["values"] == values
    assert got.payload["status"] == "success"


async def test_a_run_waiting_at_an_interrupt_sends_nothing_until_it_ends(stack: Stack) -> None:
    async with receiving() as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        result = await stack.client.runs.wait(
            tid, "approval", input={"request": "ship"}, webhook=receiver.url
        )
        assert "__interrupt__" in result
        (run,) = await stack.client.runs.list(tid)
        handle = stack.temporal.get_workflow_handle(run_workflow_id(run["run_id"]))

        async def waiting() -> bool:
            return bool(await handle.query("status") == "interrupted")

        # The workflow has taken the step that paused the run, and waits for the answer.
        await eventually(waiting)
        assert await webhook_activities(stack, run["run_id"]) == 0
        assert receiver.received == []
        assert (await stack.client.runs.get(tid, run["run_id"]))["webhook_delivery"] is None
        await stack.client.runs.wait(tid, "approval", command={"resume": True})
        await closed(stack, run["run_id"])
        (got,) = receiver.received
    assert got.payload["run_id"] == run["run_id"]
    assert got.payload["status"] == "success"
    assert got.payload["values"]["outcome"] == "done: plan for: ship"


@pytest.mark.parametrize("end", ["cancel", "timeout"])
async def test_cancelled_and_timed_out_runs_report_their_end(stack: Stack, end: str) -> None:
    config = {"configurable": {"interrupt_timeout_seconds": 0.5}} if end == "timeout" else None
    async with receiving() as receiver:
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        await stack.client.runs.wait(
            tid, "approval", input={"request": "ship"}, config=config, webhook=receiver.url
        )
        (run,) = await stack.client.runs.list(tid)
        if end == "cancel":
            await stack.client.runs.cancel(tid, run["run_id"])
        await closed(stack, run["run_id"])
        (got,) = receiver.received
    payload = got.payload
    if end == "cancel":
        assert payload["status"] == "interrupted"
        assert "error" not in payload
    else:
        assert payload["status"] == "timeout"
        assert payload["error"]["error"] == "TimeoutError"
    assert payload["values"]["draft"] == "plan for: ship"


async def test_a_url_the_worker_refuses_fails_without_retries(
    api: Stack, graphs: GraphRegistry
) -> None:
    # langgraph.json changed between the run's creation and its end: the worker's rules
    # (loopback refused) apply when it delivers.
    strict = _with_webhooks(graphs, {"headers": HEADERS})
    async with (
        receiving() as receiver,
        running_worker(api.settings, api.temporal, strict),
    ):
        thread = await api.client.threads.create()
        tid = thread["thread_id"]
        await api.client.runs.wait(tid, "chain", input={"steps": []}, webhook=receiver.url)
        (run,) = await api.client.runs.list(tid)
        await closed(api, run["run_id"])
        assert receiver.received == []
    run = await api.client.runs.get(tid, run["run_id"])
    assert run["status"] == "success"
    delivery = run["webhook_delivery"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "loopback" in delivery["last_error"]


@pytest.mark.parametrize("graphs", [STRICT], indirect=True)
async def test_refused_urls_are_422_and_create_nothing(api: Stack) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    refused = {
        "https://127.0.0.1/hook": "loopback",
        "https://localhost/hook": "loopback",
        "https://[::1]/hook": "loopback",
        "https://2130706433/hook": "loopback",
        "http://hooks.example.com/hook": "https",
        "https://example.com.evil.net/hook": "allowed_domains",
        "https://example.com/hook": "allowed_domains",
        "https://hooks.example.com:8443/hook": "allowed_ports",
        "/hook": "absolute",
        "https://hooks.example.com/" + "x" * 80: "max_url_length",
    }
    ok = {"assistant_id": "chain", "input": {"steps": []}}
    async with httpx.AsyncClient(base_url=api.url) as http:
        for url, rule in refused.items():
            body = {**ok, "webhook": url}
            for path, sent in [
                (f"/threads/{tid}/runs", body),
                (f"/threads/{tid}/runs/wait", body),
                (f"/threads/{tid}/runs/stream", body),
                ("/runs", body),
                ("/runs/wait", body),
                ("/runs/stream", body),
                ("/runs/batch", [ok, body]),
            ]:
                response = await http.post(path, json=sent)
                assert response.status_code == 422, (path, url, response.text)
                assert rule in response.json()["detail"], (path, url, response.text)
    assert api.sql("SELECT count(*) AS n FROM runs") == [{"n": 0}]
    assert api.sql("SELECT count(*) AS n FROM threads") == [{"n": 1}]


@pytest.mark.parametrize("graphs", [STRICT], indirect=True)
async def test_crons_with_refused_urls_are_422(api: Stack) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    cron = {"assistant_id": "chain", "schedule": "0 0 1 1 *", "webhook": "https://127.0.0.1/x"}
    async with httpx.AsyncClient(base_url=api.url) as http:
        for path in ("/runs/crons", f"/threads/{tid}/runs/crons"):
            response = await http.post(path, json=cron)
            assert response.status_code == 422, response.text
            assert "loopback" in response.json()["detail"]
        assert await api.client.crons.count() == 0
        made = await api.client.crons.create(
            "chain", schedule="0 0 1 1 *", webhook="https://hooks.example.com/x"
        )
        patched = await http.patch(
            f"/runs/crons/{made['cron_id']}", json={"webhook": "https://evil.net/x"}
        )
        assert patched.status_code == 422, patched.text
        assert "allowed_domains" in patched.json()["detail"]
        kept = (await http.get(f"/runs/crons/{made['cron_id']}")).json()
        assert kept["payload"]["webhook"] == "https://hooks.example.com/x"
        await api.client.crons.delete(made["cron_id"])


def test_url_rules() -> None:
    strict = WebhookUrlRules.model_validate(STRICT["url"])
    for url in (
        "https://hooks.example.com/x",
        "https://a.b.example.com/x?y=1",
        "HTTPS://Hooks.Example.COM:443/x",
    ):
        check_url(url, strict)
    loopback = WebhookUrlRules()
    for url in (
        "http://127.0.0.2/",
        "http://127.1/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://foo.localhost/",
        "http://LOCALHOST./",
    ):
        with pytest.raises(WebhookUrlError, match="loopback"):
            check_url(url, loopback)
    for url in ("ftp://example.com/", "https:///x", "example.com/hook", "http://h:99999/"):
        with pytest.raises(WebhookUrlError):
            check_url(url, loopback)
    check_url("http://10.0.0.1:8080/x", loopback)  # only loopback is refused by default
    assert domain_matches("a.example.com", "*.example.com")
    assert not domain_matches("example.com", "*.example.com")
    assert not domain_matches("badexample.com", "*.example.com")
    assert domain_matches("example.com", "Example.com.")
    assert domain_matches("anything.net", "*")


def test_headers_read_only_prefixed_variables(tmp_path: Path) -> None:
    config = WebhooksConfig.model_validate({"headers": HEADERS})
    assert config.resolved_headers({"LG_WEBHOOK_TOKEN": "x"}) == {
        "Authorization": "Bearer x",
        "X-Team": "graphs",
    }
    with pytest.raises(KeyError, match="LG_WEBHOOK_TOKEN"):
        config.resolved_headers({})
    path = tmp_path / "langgraph.json"
    path.write_text(
        '{"graphs": {"g": "./g.py:graph"}, '
        '"webhooks": {"headers": {"Authorization": "${{ env.DATABASE_PASSWORD }}"}}}'
    )
    with pytest.raises(
        ConfigError, match=r"webhooks.*headers\.Authorization.*DATABASE_PASSWORD.*env_prefix"
    ):
        load_config(path)
    path.write_text('{"graphs": {"g": "./g.py:graph"}, "webhooks": {"url": {"https": true}}}')
    with pytest.raises(ConfigError, match=r"webhooks\.url\.https"):
        load_config(path)


def test_disabled_webhooks_are_not_checked(graphs: GraphRegistry) -> None:
    body = RunCreate(assistant_id="chain", webhook="http://127.0.0.1/hook")
    strict = graphs.config.project.model_copy(
        update={"webhooks": WebhooksConfig.model_validate(STRICT)}
    )
    with pytest.raises(Unprocessable):
        rules.check_webhook(body.webhook, strict)
    off = strict.model_copy(
        update={"http": strict.http.model_copy(update={"disable_webhooks": True})}
    )
    rules.check_webhook(body.webhook, off)
