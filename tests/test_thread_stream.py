"""The thread-centric streaming protocol driven by langgraph-sdk's ``client.threads.stream``,
over SSE and WebSocket, against the real API, worker, Temporal and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Stack
from tests.graphs.browser_chat import reply_text

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
    assert channel.status_code == 400
    assert "nope" in channel.json()["detail"]
    # Nothing was created.
    assert stack.sql("SELECT count(*) AS n FROM runs")[0]["n"] == 0
