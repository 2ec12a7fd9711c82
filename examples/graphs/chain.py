"""A chain of ten nodes, each appending its name: the benchmark graph."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import START, StateGraph

N_NODES = 10


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def _node(name: str):  # type: ignore[no-untyped-def]
    def run(state: State) -> dict[str, list[str]]:
        return {"steps": [name]}

    return run


builder = StateGraph(State)
previous = START
for i in range(N_NODES):
    name = f"node_{i}"
    builder.add_node(name, _node(name))
    builder.add_edge(previous, name)
    previous = name
graph = builder.compile(name="chain")
