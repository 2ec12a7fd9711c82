"""A chat-like graph for stream tests: a fake streaming model, a custom event, a subgraph, and
an optional failure. ``gate: "model"`` holds the model node after its tokens until the test
opens the gate (a row in ``gates``), so a test can observe a node that has not finished."""

from __future__ import annotations

import asyncio
import operator
import os
from typing import Annotated, Any, TypedDict

import psycopg
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph


class Inner(TypedDict, total=False):
    notes: Annotated[list[str], operator.add]


class State(MessagesState, total=False):
    steps: Annotated[list[str], operator.add]
    notes: Annotated[list[str], operator.add]
    tokens: int
    gate: str
    fail: bool


async def _gate_open(thread_id: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        os.environ["GRAPHYARD_DATABASE_URI"],
        autocommit=True,
        options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
    ) as conn:
        while True:
            cur = await conn.execute(
                "SELECT 1 FROM gates WHERE thread_id IN (%s, '*')", (thread_id,)
            )
            if await cur.fetchone() is not None:
                return
            await asyncio.sleep(0.05)


async def model(state: State, config: RunnableConfig) -> dict[str, Any]:
    get_stream_writer()({"progress": "model started"})
    words = " ".join(f"w{i}" for i in range(state.get("tokens") or 5))
    llm = GenericFakeChatModel(messages=iter([AIMessage(words)]))
    reply = await llm.ainvoke(state["messages"], config)
    if state.get("gate") == "model":
        await _gate_open(config["configurable"]["thread_id"])
    return {"messages": [reply], "steps": ["model"]}


def inner(state: Inner) -> dict[str, Any]:
    get_stream_writer()({"progress": "inner"})
    return {"notes": ["inner"]}


def check(state: State) -> dict[str, Any]:
    if state.get("fail"):
        raise ValueError("kaboom")
    return {"steps": ["check"]}


sub_builder = StateGraph(Inner)
sub_builder.add_node("inner", inner)
sub_builder.add_edge(START, "inner")
sub_builder.add_edge("inner", END)

builder = StateGraph(State)
builder.add_node("model", model)
builder.add_node("sub", sub_builder.compile())
builder.add_node("check", check)
builder.add_edge(START, "model")
builder.add_edge("model", "sub")
builder.add_edge("sub", "check")
builder.add_edge("check", END)
graph = builder.compile(name="streaming")
