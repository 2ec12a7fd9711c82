"""A chat agent for the A2A tests: "ask" makes it interrupt for an answer, "slow" keeps it
working until cancelled, "pause" works for 3 seconds; anything else is echoed with the turn
count. ``adder`` has a typed input, for the MCP tests."""

from __future__ import annotations

import asyncio
from typing import NotRequired

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


async def respond(state: MessagesState) -> dict[str, list[AnyMessage]]:
    text = str(state["messages"][-1].content)
    turns = sum(1 for m in state["messages"] if m.type == "human")
    if "ask" in text:
        colour = interrupt({"question": "Which colour?"})
        return {"messages": [AIMessage(f"Painted it {colour}")]}
    if "slow" in text:
        await asyncio.sleep(120)
    if "pause" in text:
        await asyncio.sleep(3)
    return {"messages": [AIMessage(f"Echo: {text} (turn {turns})")]}


def sign(state: MessagesState) -> dict[str, list[AnyMessage]]:
    return {"messages": [AIMessage("-- agent")]}


builder = StateGraph(MessagesState)
builder.add_node("respond", respond)
builder.add_node("sign", sign)
builder.add_edge(START, "respond")
builder.add_edge("respond", "sign")
builder.add_edge("sign", END)
graph = builder.compile(name="agent")


class Sum(TypedDict):
    """Two numbers to add (a typed input: its schema is the tool's). A ``typing_extensions``
    TypedDict: on Python 3.11 pydantic builds no schema from ``typing``'s."""

    a: int
    b: int
    total: NotRequired[int]


def add(state: Sum) -> dict[str, int]:
    if state["b"] < 0:
        raise ValueError("b must not be negative")
    return {"total": state["a"] + state["b"]}


adder = StateGraph(Sum).add_node("add", add).add_edge(START, "add").compile(name="adder")
