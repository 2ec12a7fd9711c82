"""The thread-centric streaming protocol driven by langgraph-sdk's ``client.threads.stream``,
over SSE and WebSocket, against the real API, worker, Temporal and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from langgraph_sdk import get_client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests import node_app
from tests.faultkit import kill
from tests.graphs.browser_chat import reply_text
from tests.graphs.protocol_agent import FINDINGS
from tests.processes import api_process
from tests.stack import Stack

TRANSPORTS = ["sse", "websocket"]


async def _deltas(message: Any) -> list[str]:
    return [delta async for delta in message.text]


async def _text(messages: Any) -> list[list[str]]:
    """Every message's text deltas, read as they arrive (a message's events reach it while the
    projection is iterated, so each is read in a task of its own)."""
    readers = [asyncio.create_task(_deltas(message)) async for message in messages]
    return list(await asyncio.gather(*readers))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_chat_tokens_values_and_output(stack: Stack, transport: str) -> None:
    async with stack.client.threads.stream(
        assistant_id="browser_chat", transport=transport
    ) as thread:
        started = await thread.run.start(input={"messages": [{"role": "user", "content": "hello"}]})
        # One subscription for both projections: langgraph-sdk 0.4.14 can wait forever for a
        # stream it rotated away from before that stream's response began.
        texts, snapshots = await asyncio.wait_for(_messages_and_values(thread), timeout=60)
        output = await asyncio.wait_for(thread.output, timeout=60)
    reply = reply_text("hello")
    [deltas] = texts
    assert "".join(deltas) == reply
    assert len(deltas) > 10  # token by token
    assert [m["content"] for m in output["messages"]] == ["hello", reply]
    assert snapshots[-1]["messages"][-1]["content"] == reply
    runs = await stack.client.runs.list(thread.thread_id)
    assert [r["run_id"] for r in runs] == [started["run_id"]]
    assert runs[0]["status"] == "success"
    async with httpx.AsyncClient(base_url=stack.url) as http:
        tree = await http.post(
            f"/threads/{thread.thread_id}/commands",
            json={"id": 9, "method": "agent.getTree", "params": {}},
        )
    assert tree.json()["result"]["tree"] == {
        "namespace": [],
        "status": "completed",
        "graph_name": "browser_chat",
    }


async def _messages_and_values(thread: Any) -> tuple[list[list[str]], list[Any]]:
    readers, snapshots = [], []
    async for name, item in thread.interleave_projections(["messages", "values"]):
        if name == "messages":
            readers.append(asyncio.create_task(_deltas(item)))
        else:
            snapshots.append(item)
    return list(await asyncio.gather(*readers)), snapshots


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_interrupt_answered_continues_the_same_run(stack: Stack, transport: str) -> None:
    async with stack.client.threads.stream(
        assistant_id="browser_chat", transport=transport
    ) as thread:
        started = await thread.run.start(
            input={"messages": [{"role": "user", "content": "approve this"}]}
        )
        first = await asyncio.wait_for(_text(thread.messages), timeout=60)
        while not thread.interrupted:
            await asyncio.sleep(0.05)
        [asked] = thread.interrupts
        assert asked["value"] == {"question": "Approve the plan?"}
        await thread.run.respond("yes")
        output = await asyncio.wait_for(thread.output, timeout=60)
    assert ["".join(d) for d in first] == [reply_text("approve this")]
    assert output["answer"] == "yes"
    assert output["messages"][-1]["content"] == "Resumed with yes: all done."
    runs = await stack.client.runs.list(thread.thread_id)
    assert [r["run_id"] for r in runs] == [started["run_id"]]
    # A replay of the run does not ask again what was answered.
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=30) as http,
        http.stream(
            "POST",
            f"/threads/{thread.thread_id}/stream/events",
            json={"channels": ["lifecycle", "input", "messages"]},
        ) as response,
    ):
        replay = await asyncio.wait_for(_until_end(response), timeout=30)
    methods = [(e["method"], e["params"]["data"].get("event")) for e in replay]
    assert ("input.requested", None) not in methods
    assert ("lifecycle", "interrupted") not in methods
    assert methods.count(("messages", "message-finish")) == 2


async def test_bad_commands_get_protocol_errors(stack: Stack) -> None:
    thread_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=stack.url) as http:
        url = f"/threads/{thread_id}/commands"
        unknown = await http.post(url, json={"id": 1, "method": "no.such", "params": {}})
        missing = await http.post(url, json={"id": 2, "method": "run.start", "params": {}})
        malformed = await http.post(url, json={"method": "run.start"})
        respond = await http.post(
            url,
            json={
                "id": 3,
                "method": "input.respond",
                "params": {"namespace": [], "interrupt_id": "x", "response": 1},
            },
        )
        tree = await http.post(url, json={"id": 4, "method": "agent.getTree", "params": {}})
        state = await http.post(url, json={"id": 5, "method": "state.get", "params": {}})
        channel = await http.post(
            f"/threads/{thread_id}/stream/events", json={"channels": ["nope"]}
        )
    assert unknown.status_code == 200
    assert unknown.json()["error"] == "unknown_command"
    assert missing.json()["error"] == "invalid_argument"
    assert "assistant_id" in missing.json()["message"]
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid_argument"
    assert respond.json()["error"] == "no_such_interrupt"
    assert tree.json()["error"] == "no_such_run"
    assert state.json()["error"] == "not_supported"
    assert channel.status_code == 400
    assert "nope" in channel.json()["detail"]
    # Nothing was created.
    assert stack.sql("SELECT count(*) AS n FROM runs")[0]["n"] == 0


async def _subgraph_text(handle: Any) -> list[str]:
    texts = await _text(handle.messages)
    return ["".join(deltas) for deltas in texts]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tool_calls_and_subgraphs(stack: Stack, transport: str) -> None:
    async with stack.client.threads.stream(
        assistant_id="protocol_agent", transport=transport
    ) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "weather?"}]})
        calls, children, readers = [], [], []
        async for name, item in thread.interleave_projections(["tool_calls", "subgraphs"]):
            if name == "tool_calls":
                calls.append(item)
            else:
                children.append(item)
                readers.append(asyncio.create_task(_subgraph_text(item)))
        texts = await asyncio.wait_for(asyncio.gather(*readers), timeout=30)
        outputs = [await asyncio.wait_for(call.output, timeout=30) for call in calls]
    assert [(c.name, c.input, c.tool_call_id) for c in calls] == [
        ("get_weather", {"city": "Paris"}, "call-weather-1")
    ]
    assert outputs[0]["content"] == "sunny in Paris"
    assert [c.graph_name for c in children] == ["researcher"]
    assert children[0].status == "completed"
    assert texts == [[FINDINGS]]


async def _sse(response: httpx.Response) -> Any:
    """The JSON events of a protocol SSE response, as they come."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield orjson.loads(line[len("data: ") :])


def _ends_run(event: dict[str, Any]) -> bool:
    params = event["params"]
    return (
        event["method"] == "lifecycle"
        and params["namespace"] == []
        and params["data"]["event"] == "completed"
    )


async def _until_end(response: httpx.Response) -> list[dict[str, Any]]:
    out = []
    async for event in _sse(response):
        out.append(event)
        if _ends_run(event):
            return out
    raise AssertionError("the stream ended before the run")


async def _read_and_kill(stream: Any, seen: list[dict[str, Any]], api: Any) -> None:
    """Read ``stream`` into ``seen``; SIGKILL ``api`` at the tenth token, read on till the
    connection breaks."""
    deltas = 0
    async with stream as response:
        async for event in _sse(response):
            seen.append(event)
            data = event["params"]["data"]
            deltas += isinstance(data, dict) and data.get("event") == "content-block-delta"
            if deltas == 10 and api.poll() is None:
                kill(api)


@pytest.mark.slow
@pytest.mark.faults
async def test_kill_mid_stream_and_resume_on_another_api_process(stack: Stack) -> None:
    """SIGKILL the API process serving a stream mid-message; another API process resumes it
    from the last ``seq`` the client got: nothing lost, nothing repeated."""
    thread_id = str(uuid.uuid4())
    channels = {"channels": ["messages", "lifecycle", "values"]}
    path = f"/threads/{thread_id}/stream/events"
    async with (
        api_process(stack.settings) as (first, url),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        await http.post(
            f"/threads/{thread_id}/commands",
            json={
                "id": 1,
                "method": "run.start",
                "params": {
                    "assistant_id": "browser_chat",
                    "input": {"messages": [{"role": "user", "content": "say it slowly"}]},
                },
            },
        )
        seen: list[dict[str, Any]] = []
        with pytest.raises(httpx.TransportError):
            await _read_and_kill(http.stream("POST", path, json=channels), seen, first)
    async with (
        api_process(stack.settings) as (_, url),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        since = {**channels, "since": seen[-1]["seq"]}
        async with http.stream("POST", path, json=since) as response:
            rest = await asyncio.wait_for(_until_end(response), timeout=60)
        async with http.stream("POST", path, json=channels) as response:
            whole = await asyncio.wait_for(_until_end(response), timeout=60)
    assert [e["event_id"] for e in seen + rest] == [e["event_id"] for e in whole]
    assert len(seen) > 10
    assert len(rest) > 10
    text = "".join(
        e["params"]["data"]["delta"]["text"]
        for e in seen + rest
        if e["params"]["data"].get("event") == "content-block-delta"
    )
    assert text == reply_text("say it slowly")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_subscriptions_with_different_channels(stack: Stack, transport: str) -> None:
    async with stack.client.threads.stream(
        assistant_id="browser_chat", transport=transport
    ) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "two"}]})
        first_event = asyncio.Event()

        async def read(channels: list[str]) -> list[str]:
            methods = []
            async for event in thread.subscribe(channels):
                methods.append(event["method"])
                first_event.set()
                if _ends_run(event):
                    break
            return methods

        lifecycle = asyncio.create_task(read(["lifecycle", "values"]))
        # The second subscription widens the shared stream once the first one flows (see
        # _messages_and_values).
        await asyncio.wait_for(first_event.wait(), timeout=30)
        updates = [e async for e in _updates(thread)]
        lifecycle_methods = await asyncio.wait_for(lifecycle, timeout=30)
    assert set(lifecycle_methods) == {"lifecycle", "values"}
    assert [u["node"] for u in updates] == ["respond"]


async def _updates(thread: Any) -> Any:
    async for event in thread.subscribe(["updates"]):
        if event["method"] != "updates":
            continue
        yield event["params"]["data"]
        return


API_KEY = "proto-key-5f1e2d3c4b"


@pytest.mark.parametrize("settings", [{"api_keys": f"ci:{API_KEY}"}], indirect=True)
async def test_websocket_needs_credentials(stack: Stack) -> None:
    thread_id = str(uuid.uuid4())
    ws_url = stack.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"
    for headers in ({}, {"x-api-key": "wrong"}):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    client = get_client(url=stack.url, api_key=API_KEY)
    async with client.threads.stream(
        assistant_id="browser_chat", transport="websocket", headers={"x-api-key": API_KEY}
    ) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "key"}]})
        output = await asyncio.wait_for(thread.output, timeout=60)
    assert output["messages"][-1]["content"] == reply_text("key")
    async with get_client(url=stack.url, api_key="wrong").threads.stream(
        assistant_id="browser_chat"
    ) as thread:
        with pytest.raises(httpx.HTTPStatusError) as denied:
            await thread.run.start(input={"messages": [{"role": "user", "content": "no"}]})
    assert denied.value.response.status_code == 401


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_js_sdk_thread_stream(stack: Stack, transport: str) -> None:
    """@langchain/langgraph-sdk 1.15's ``client.threads.stream`` run by node
    (tests/browser/thread_stream.mjs): a reply token by token, then the run's output."""
    tools = node_app.tools("node", "npm")
    await asyncio.to_thread(node_app.install, tools["npm"])
    node = tools["node"]
    done = await asyncio.create_subprocess_exec(
        # Node 20 has its WebSocket client behind a flag (on by default from node 22).
        node,
        "--experimental-websocket",
        "thread_stream.mjs",
        stack.url,
        transport,
        "please approve",
        cwd=node_app.APP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(done.communicate(), timeout=120)
    assert done.returncode == 0, err.decode()
    seen = orjson.loads(out.splitlines()[-1])
    assert seen["interrupt"] == {"question": "Approve the plan?"}
    assert seen["before"] == [reply_text("please approve")]
    assert seen["texts"] == [reply_text("please approve"), "Resumed with yes: all done."]
    assert min(seen["tokens"]) > 3
    assert seen["output"]["answer"] == "yes"
    runs = stack.sql("SELECT run_id::text AS run_id, status FROM runs")
    assert runs == [{"run_id": seen["runId"], "status": "success"}]
