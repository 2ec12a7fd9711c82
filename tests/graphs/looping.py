"""One node that loops on itself: ``until`` super-steps, for long runs."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    n: int
    until: int


def tick(state: State) -> dict[str, int]:
    return {"n": state["n"] + 1}


def again(state: State) -> str:
    return END if state["n"] >= state["until"] else "tick"


builder = StateGraph(State)
builder.add_node("tick", tick)
builder.add_edge(START, "tick")
builder.add_conditional_edges("tick", again)
graph = builder.compile(name="looping")
