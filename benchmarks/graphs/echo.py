"""One node that returns its input: the cost of a run with a single super-step."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    text: str


def echo(state: State) -> dict[str, Any]:
    return {"text": state.get("text", "")}


builder = StateGraph(State)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
graph = builder.compile(name="echo")
