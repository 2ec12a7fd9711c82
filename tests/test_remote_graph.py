"""``RemoteGraph`` pointed at graphyard: invoke, stream and get_state, async and sync."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client

from tests.stack import Stack

CHAIN = [f"node_{i}" for i in range(10)]


async def test_remote_graph_invoke_stream_and_state(stack: Stack) -> None:
    remote = RemoteGraph("chain", client=get_client(url=stack.url))
    thread = await stack.client.threads.create()
    config = {"configurable": {"thread_id": thread["thread_id"]}}
    result = await remote.ainvoke({"steps": []}, config)
    assert result == {"steps": CHAIN}
    updates = [chunk async for chunk in remote.astream({"steps": []}, stream_mode="updates")]
    assert [next(iter(u)) for u in updates] == CHAIN
    state = await remote.aget_state(config)
    assert state.values == {"steps": CHAIN}
    assert state.next == ()


async def test_remote_graph_with_the_sync_client(stack: Stack) -> None:
    def run() -> tuple[Any, list[Any]]:
        remote = RemoteGraph("approval", sync_client=get_sync_client(url=stack.url))
        thread = get_sync_client(url=stack.url).threads.create()
        config = {"configurable": {"thread_id": thread["thread_id"]}}
        chunks = list(remote.stream({"request": "ship"}, config, stream_mode="values"))
        return remote.get_state(config), chunks

    state, chunks = await asyncio.to_thread(run)
    *_, values, last = chunks
    assert values == {"request": "ship", "draft": "plan for: ship"}
    assert last["__interrupt__"][0]["value"]["question"] == "Approve this plan?"
    assert state.next == ("ask",)
    assert state.interrupts[0].value["question"] == "Approve this plan?"
