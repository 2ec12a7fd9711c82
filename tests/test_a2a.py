"""A2A at /a2a/{assistant_id}, driven by ``a2a-sdk``'s client: the agent card, a send (an
ordinary durable run), a stream read from the event log, a conversation on one context (one
thread), an interrupt surfacing as input-required and answered by the next message (the same
run resumes), a cancel, a worker killed under a send; and JSON-RPC errors for bad requests."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.client.client import Client
from a2a.types import a2a_pb2 as pb

from graphyard.graphs import default_assistant_id
from tests.processes import worker_process
from tests.stack import Stack
from tests.test_auth import AUTH_SETTINGS, TOKENS, Users, users  # noqa: F401

AGENT = default_assistant_id("agent")


@asynccontextmanager
async def a2a_client(
    stack: Stack, streaming: bool = False, agent: str = AGENT, **headers: str
) -> AsyncIterator[Client]:
    http = httpx.AsyncClient(timeout=60, headers=headers)
    config = ClientConfig(streaming=streaming, httpx_client=http)
    async with http:
        client = await create_client(f"{stack.url}/a2a/{agent}", client_config=config)
        try:
            yield client
        finally:
            await client.close()


def user_message(text: str, context_id: str | None = None) -> pb.SendMessageRequest:
    message = pb.Message(
        message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)]
    )
    if context_id:
        message.context_id = context_id
    return pb.SendMessageRequest(message=message)


async def send(client: Client, text: str, context_id: str | None = None) -> pb.Task:
    (response,) = [r async for r in client.send_message(user_message(text, context_id))]
    assert response.HasField("task")
    return response.task


def answer_text(task: pb.Task) -> str:
    return " ".join(p.text for a in task.artifacts for p in a.parts)


async def test_agent_card_and_a_conversation_on_one_context(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        card = (await http.get(f"{stack.url}/a2a/{AGENT}/.well-known/agent-card.json")).json()
    assert card["name"] == "agent"
    assert card["supportedInterfaces"] == [
        {"url": f"{stack.url}/a2a/{AGENT}", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert card["capabilities"]["streaming"] is True
    async with a2a_client(stack) as client:
        first = await send(client, "hello")
        assert first.status.state == pb.TASK_STATE_COMPLETED
        assert answer_text(first) == "-- agent"
        context = first.context_id
        second = await send(client, "again", context)
        assert second.context_id == context
        assert second.id != first.id
        texts = [p.text for m in second.history for p in m.parts]
        assert texts == [
            "hello",
            "Echo: hello (turn 1)",
            "-- agent",
            "again",
            "Echo: again (turn 2)",
            "-- agent",
        ]
        got = await client.get_task(pb.GetTaskRequest(id=first.id))
        assert got.status.state == pb.TASK_STATE_COMPLETED
    # A context is a thread; each task one of its runs.
    runs = stack.sql("SELECT thread_id::text AS t, status FROM runs ORDER BY created_at")
    assert runs == [{"t": context, "status": "success"}] * 2


async def test_a_stream_tells_each_step(stack: Stack) -> None:
    async with a2a_client(stack, streaming=True) as client:
        events = [r async for r in client.send_message(user_message("hello"))]
    kinds = [r.WhichOneof("payload") for r in events]
    assert kinds[0] == "task"
    assert events[0].task.status.state == pb.TASK_STATE_SUBMITTED
    updates = [r.status_update for r in events if r.HasField("status_update")]
    said = [p.text for u in updates if u.status.HasField("message") for p in u.status.message.parts]
    # Each agent message as its node finished, then the answer and the final state.
    assert said == ["Echo: hello (turn 1)", "-- agent"]
    assert kinds[-2:] == ["artifact_update", "status_update"]
    assert updates[-1].status.state == pb.TASK_STATE_COMPLETED
    assert {u.task_id for u in updates} == {events[0].task.id}


async def test_a_dropped_stream_is_joined_again(stack: Stack) -> None:
    async with a2a_client(stack, streaming=True) as client:
        stream = client.send_message(user_message("pause please"))
        task = (await anext(stream)).task
        await stream.aclose()  # the client goes away; the run goes on
        events = [r async for r in client.subscribe(pb.SubscribeToTaskRequest(id=task.id))]
        assert events[0].task.id == task.id
        updates = [r.status_update for r in events if r.HasField("status_update")]
        said = [
            p.text for u in updates if u.status.HasField("message") for p in u.status.message.parts
        ]
        assert said == ["Echo: pause please (turn 1)", "-- agent"]
        assert updates[-1].status.state == pb.TASK_STATE_COMPLETED
        with pytest.raises(Exception, match="nothing to follow"):
            [r async for r in client.subscribe(pb.SubscribeToTaskRequest(id=task.id))]
    assert stack.sql("SELECT status FROM runs") == [{"status": "success"}]


async def test_input_required_then_the_answer_resumes_the_same_run(stack: Stack) -> None:
    async with a2a_client(stack) as client:
        asked = await send(client, "please ask me")
        assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
        (artifact,) = asked.artifacts
        assert artifact.name == "Interrupt"
        (run,) = stack.sql("SELECT run_id::text AS r, status, waiting FROM runs")
        assert run["waiting"] is True
        done = await send(client, "blue", asked.context_id)
        assert done.id == asked.id
        assert done.status.state == pb.TASK_STATE_COMPLETED
        assert [p.text for m in done.history for p in m.parts][-2:] == [
            "Painted it blue",
            "-- agent",
        ]
    (after,) = stack.sql("SELECT run_id::text AS r, status FROM runs")
    assert after == {"r": run["r"], "status": "success"}


async def test_cancel_a_slow_task(stack: Stack) -> None:
    async with a2a_client(stack, streaming=True) as client:
        stream = client.send_message(user_message("slow please"))
        first = await anext(stream)
        task_id = first.task.id
        await stack.wait_rows("SELECT 1 FROM runs WHERE status = 'running'")
        cancelled = await client.cancel_task(pb.CancelTaskRequest(id=task_id))
        assert cancelled.status.state == pb.TASK_STATE_CANCELED
        rest = [r async for r in stream]
        assert rest[-1].status_update.status.state == pb.TASK_STATE_CANCELED
        with pytest.raises(Exception, match="cannot be canceled"):
            await client.cancel_task(pb.CancelTaskRequest(id=task_id))
    assert stack.sql("SELECT status FROM runs") == [{"status": "interrupted"}]


@pytest.mark.slow
@pytest.mark.faults
async def test_a_send_outlives_its_worker(api: Stack) -> None:
    async with a2a_client(api) as client:
        with worker_process(api.settings) as worker:
            sending = asyncio.create_task(send(client, "pause please"))
            await api.wait_rows("SELECT 1 FROM runs WHERE status = 'running'")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        assert not sending.done()
        with worker_process(api.settings):
            task = await asyncio.wait_for(sending, 240)
    assert task.status.state == pb.TASK_STATE_COMPLETED
    assert answer_text(task) == "-- agent"


@pytest.mark.parametrize("settings", [AUTH_SETTINGS], indirect=True)
async def test_a_caller_reaches_only_the_agents_it_may_see(users: Users) -> None:  # noqa: F811
    mine = (await users.alice.assistants.create("agent", name="alices agent"))["assistant_id"]
    alice = {"Authorization": f"Bearer {TOKENS['alice']}"}
    bob = {"Authorization": f"Bearer {TOKENS['bob']}"}
    async with a2a_client(users.stack, agent=mine, **alice) as client:
        task = await send(client, "hello")
        assert task.status.state == pb.TASK_STATE_COMPLETED
    card = f"{users.stack.url}/a2a/{mine}/.well-known/agent-card.json"
    call = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task.id}}
    async with httpx.AsyncClient() as http:
        assert (await http.get(card, headers=alice)).status_code == 200
        assert (await http.get(card, headers=bob)).status_code == 404
        assert (await http.get(card)).status_code == 401
        refused = await http.post(f"{users.stack.url}/a2a/{mine}", json=call, headers=bob)
        assert refused.json()["error"]["code"] == -32602
        # Through an agent Bob may use, Alice's task is still not his.
        system = f"{users.stack.url}/a2a/{AGENT}"
        hidden = await http.post(system, json=call, headers=bob)
        assert hidden.json()["error"]["code"] == -32001
    assert len(users.stack.sql("SELECT 1 FROM runs")) == 1


async def test_bad_json_rpc_gets_json_rpc_errors(stack: Stack) -> None:
    url = f"/a2a/{AGENT}"
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    cases: list[tuple[Any, int]] = [
        (b"[", -32700),
        ("x", -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "Nope"}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}}, -32602),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {"message": {"role": 7}},
            },
            -32602,
        ),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {"message": {**message, "parts": []}},
            },
            -32602,
        ),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {"message": {**message, "contextId": "x"}},
            },
            -32602,
        ),
        ({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}}, -32001),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "GetTask",
                "params": {"id": f"{uuid.uuid4()}:{uuid.uuid4()}"},
            },
            -32001,
        ),
    ]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for body, code in cases:
            content = body if isinstance(body, bytes) else None
            response = await http.post(url, content=content, json=None if content else body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["error"]["code"] == code, (body, response.text)
        other = await http.post(
            f"/a2a/{uuid.uuid4()}",
            json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
        )
        assert other.json()["error"]["code"] == -32602
        # The 0.3 names answer in 0.3 shape.
        legacy = await http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": "a",
                "method": "message/send",
                "params": {
                    "message": {
                        "messageId": "m2",
                        "role": "user",
                        "parts": [{"kind": "text", "text": "hi"}],
                    }
                },
            },
        )
        task = legacy.json()["result"]
        assert (task["kind"], task["status"]["state"]) == ("task", "completed")
        assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": "-- agent"}]
        assert task["history"][0]["role"] == "user"
    assert stack.sql("SELECT count(*) AS n FROM runs") == [{"n": 1}]
