"""A graph whose node raises an exception with the message its input names: a huge dotted
message is the adversarial shape for the redactor that masks failures and log lines."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    dots: int


def boom(state: State) -> State:
    raise ValueError("bad name " + "a." * state.get("dots", 40_000))


builder = StateGraph(State)
builder.add_node("boom", boom)
builder.add_edge(START, "boom")
graph = builder.compile(name="dotted")
