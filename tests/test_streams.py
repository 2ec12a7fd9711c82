"""Streams over SSE through langgraph-sdk: every mode as in-process LangGraph gives it, live
tokens, the event log's replay and resume, thread streams, errors and disconnects."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphyard.graphs import GraphRegistry
from graphyard.serde import to_jsonable
from tests.stack import Stack

pytestmark = pytest.mark.core

GRAPH_MODES = ["values", "updates", "custom", "tasks", "checkpoints", "debug"]
_VOLATILE = {
    "id",
    "checkpoint_id",
    "run_id",
    "thread_id",
    "timestamp",
    "metadata",
    "config",
    "parent_config",
    "checkpoint",
    "parent_checkpoint",
    "checkpoint_ns",
    "checkpoint_map",
    "state",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalize(event: str, data: Any) -> tuple[str, Any]:
    """An event without what differs between two executions (ids, times, run metadata)."""
    name = _UUID.sub("<id>", event)
    if event.split("|")[0] == "messages":
        message, meta = data
        data = [message, {k: meta.get(k) for k in ("langgraph_node", "langgraph_step")}]
    return name, _strip(data)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str):
        return _UUID.sub("<id>", value)
    return value


async def in_process(
    graphs: GraphRegistry, graph_id: str, inp: dict[str, Any], modes: list[str]
) -> list[tuple[str, Any]]:
    """What ``graph.astream`` gives in-process for the same input, as SSE events would."""
    config: Any = {"configurable": {"thread_id": "in-process"}}
    lg_modes = ["messages" if m == "messages-tuple" else m for m in modes]
    out = []
    async with graphs.get(graph_id).bind(config, InMemorySaver()) as graph:
        async for ns, mode, chunk in graph.astream(
            inp, config, stream_mode=lg_modes, subgraphs=True
        ):
            name = f"{mode}|{'|'.join(ns)}" if ns else mode
            out.append(normalize(name, to_jsonable(chunk)))
    return out


async def test_every_mode_matches_in_process_langgraph(stack: Stack, graphs: GraphRegistry) -> None:
    modes = [*GRAPH_MODES, "messages-tuple"]
    inp = {"messages": [{"type": "human", "content": "hi"}], "tokens": 4}
    thread = await stack.client.threads.create()
    parts = [
        part
        async for part in stack.client.runs.stream(
            thread["thread_id"], "streaming", input=inp, stream_mode=modes, stream_subgraphs=True
        )
    ]
    assert parts[0].event == "metadata"
    assert parts[0].data["attempt"] == 1
    ours = [normalize(p.event, p.data) for p in parts[1:]]
    expected = await in_process(
        graphs, "streaming", {**inp, "messages": [HumanMessage("hi")]}, modes
    )
    assert [e for e, _ in ours] == [e for e, _ in expected]
    assert ours == expected


async def test_messages_mode_accumulates_partials(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    parts = [
        part
        async for part in stack.client.runs.stream(
            thread["thread_id"],
            "streaming",
            input={"messages": [{"type": "human", "content": "hi"}], "tokens": 3},
            stream_mode="messages",
        )
    ]
    names = [p.event for p in parts]
    assert names[0] == "metadata"
    assert names[1] == "messages/metadata"
    partials = [p.data[0] for p in parts if p.event == "messages/partial"]
    # "w0 w1 w2" streams as five chunks; each partial is the whole message so far, as "ai".
    assert [m["content"] for m in partials] == ["w0", "w0 ", "w0 w1", "w0 w1 ", "w0 w1 w2"]
    assert {m["type"] for m in partials} == {"ai"}
    (meta,) = [p.data for p in parts if p.event == "messages/metadata"]
    (message_id,) = meta
    assert meta[message_id]["metadata"]["langgraph_node"] == "model"
    assert {m["id"] for m in partials} == {message_id}


async def test_tokens_reach_the_client_before_the_node_finishes(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    stream = stack.client.runs.stream(
        tid,
        "streaming",
        input={"messages": [{"type": "human", "content": "hi"}], "tokens": 20, "gate": "model"},
        stream_mode=["messages-tuple", "updates"],
    )
    tokens = []
    async for part in stream:
        assert part.event != "updates", "the model node finished before its tokens arrived"
        if part.event == "messages":
            tokens.append(part.data[0]["content"])
            if "".join(tokens) == " ".join(f"w{i}" for i in range(20)):
                break
    # Every token is here while the node is still held at its gate.
    state = await stack.client.threads.get_state(tid)
    assert state["values"].get("steps", []) == []
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    rest = [part.event async for part in stream]
    assert rest.count("updates") == 3  # model, sub, check


async def test_join_replays_a_finished_run_and_filters_modes(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    inp = {"messages": [{"type": "human", "content": "hi"}]}
    live = [
        p
        async for p in stack.client.runs.stream(
            tid, "streaming", input=inp, stream_mode=["values", "updates", "custom"]
        )
    ]
    run_id = live[0].data["run_id"]
    replay = [p async for p in stack.client.runs.join_stream(tid, run_id)]
    assert [(p.event, p.data) for p in replay] == [(p.event, p.data) for p in live]
    # -1 is what useStream sends when a reloaded page joins its run: from the start too.
    rejoined = [p async for p in stack.client.runs.join_stream(tid, run_id, last_event_id="-1")]
    assert [(p.event, p.data) for p in rejoined] == [(p.event, p.data) for p in live]
    only_updates = [
        p async for p in stack.client.runs.join_stream(tid, run_id, stream_mode="updates")
    ]
    assert [p.event for p in only_updates] == ["metadata", "updates", "updates", "updates"]


async def test_last_event_id_resumes_without_repeats(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(
        tid,
        "streaming",
        input={"messages": [{"type": "human", "content": "hi"}], "tokens": 10, "gate": "model"},
        stream_mode=["messages-tuple", "values"],
    )
    seen = []
    async for part in stack.client.runs.join_stream(tid, run["run_id"]):
        seen.append(part)
        if len(seen) == 6:
            break  # the client drops the connection mid-stream
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    rest = [
        p
        async for p in stack.client.runs.join_stream(tid, run["run_id"], last_event_id=seen[-1].id)
    ]
    full = [p async for p in stack.client.runs.join_stream(tid, run["run_id"])]
    ids = [p.id for p in seen + rest]
    assert len(ids) == len(set(ids))
    assert [(p.id, p.event, p.data) for p in seen + rest] == [(p.id, p.event, p.data) for p in full]
    assert full[-1].event == "values"
    assert full[-1].data["steps"] == ["model", "check"]


async def test_error_event_and_status(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    parts = [
        p
        async for p in stack.client.runs.stream(
            tid,
            "streaming",
            input={"messages": [{"type": "human", "content": "hi"}], "fail": True},
            stream_mode="updates",
        )
    ]
    assert parts[-1].event == "error"
    assert parts[-1].data == {"error": "ValueError", "message": "kaboom", "step": 2, "attempts": 3}
    assert [p.event for p in parts[1:-1]] == ["updates", "updates"]
    runs = await stack.client.runs.list(tid)
    assert runs[0]["status"] == "error"


async def test_events_mode_streams_langchain_events(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    parts = [
        p
        async for p in stack.client.runs.stream(
            thread["thread_id"],
            "streaming",
            input={"messages": [{"type": "human", "content": "hi"}], "tokens": 2},
            stream_mode=["events", "updates"],
        )
    ]
    kinds = [p.data["event"] for p in parts if p.event == "events"]
    assert "on_chat_model_stream" in kinds
    assert "on_chain_start" in kinds
    assert [p.event for p in parts if p.event != "events"] == ["metadata"] + ["updates"] * 3


async def test_stateless_stream_and_its_join(stack: Stack) -> None:
    parts = [
        p
        async for p in stack.client.runs.stream(
            None, "streaming", input={"messages": [{"type": "human", "content": "hi"}]}
        )
    ]
    assert parts[-1].event == "values"
    assert parts[-1].data["steps"] == ["model", "check"]
    run_id = parts[0].data["run_id"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        replay = await http.get(f"/runs/{run_id}/stream")
    assert replay.status_code == 200
    assert replay.text.count("event: values\r\n") == sum(p.event == "values" for p in parts)


async def test_sse_framing_and_headers(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    body = {"assistant_id": "chain", "input": {"steps": []}, "stream_mode": "updates"}
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post(f"/threads/{tid}/runs/stream", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    location = response.headers["location"]
    run_id = location.split("/")[-2]
    assert location == f"/threads/{tid}/runs/{run_id}/stream"
    assert response.headers["content-location"] == f"/threads/{tid}/runs/{run_id}"
    frames = response.text.split("\r\n\r\n")
    assert frames[-1] == ""
    first = frames[0].split("\r\n")
    assert first[0] == "event: metadata"
    assert first[1] == f'data: {{"run_id":"{run_id}","attempt":1}}'
    assert re.fullmatch(r"id: \d+", first[2])
    assert sum(f.startswith("event: updates\r\n") for f in frames) == 10
    assert "event: end" not in response.text


async def test_bad_stream_requests_are_4xx(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        missing = await http.get(f"/threads/{tid}/runs/{tid}/stream")
        bad_id = await http.get(f"/threads/{tid}/runs/nope/stream")
        bad_mode = await http.post(
            f"/threads/{tid}/runs/stream", json={"assistant_id": "chain", "stream_mode": "tools"}
        )
        bad_last = await http.get(
            f"/threads/{tid}/runs/{tid}/stream", headers={"Last-Event-ID": "x"}
        )
        bad_thread_mode = await http.get(f"/threads/{tid}/stream?stream_modes=nope")
    assert missing.status_code == 404
    assert bad_id.status_code == 422
    assert bad_mode.status_code == 422
    assert bad_last.status_code == 422
    assert bad_thread_mode.status_code == 422
    for response in (missing, bad_id, bad_mode, bad_last, bad_thread_mode):
        assert "detail" in response.json()
    assert await stack.client.runs.list(tid) == []
