"""A graph whose node returns a value no serializer can store, chosen by the input: nesting
deeper than the checkpoint serializer allows, or an integer beyond 64 bits. No retry can
store it: the run must fail on its first attempt."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    shape: str
    value: Any


def produce(state: State) -> State:
    if state.get("shape") == "deep":
        value: Any = "leaf"
        for _ in range(400):
            value = {"v": value}
        return {"value": value}
    return {"value": 2**70}


builder = StateGraph(State)
builder.add_node("produce", produce)
builder.add_edge(START, "produce")
graph = builder.compile(name="unserializable")
