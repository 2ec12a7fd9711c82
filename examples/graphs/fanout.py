"""An 8-way fan-out with ``Send``: eight workers run in one super-step, then a join."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

WIDTH = 8


class State(TypedDict):
    topic: str
    results: Annotated[list[str], operator.add]
    summary: str


class Item(TypedDict):
    topic: str
    index: int


def fan_out(state: State) -> list[Send]:
    return [Send("work", Item(topic=state["topic"], index=i)) for i in range(WIDTH)]


def work(item: Item) -> dict[str, list[str]]:
    return {"results": [f"{item['topic']}-{item['index']}"]}


def join(state: State) -> dict[str, str]:
    return {"summary": ",".join(sorted(state["results"]))}


builder = StateGraph(State)
builder.add_node("work", work)
builder.add_node("join", join)
builder.add_conditional_edges(START, fan_out, ["work"])
builder.add_edge("work", "join")
builder.add_edge("join", END)
graph = builder.compile(name="fanout")
