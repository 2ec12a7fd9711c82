"""Three nodes that each wait 0.2 s on I/O (``asyncio.sleep``): a run's ideal wall time is 0.6 s,
however many run at once."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

from langgraph.graph import START, StateGraph

N_NODES = 3
PAUSE_SECONDS = 0.2


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def _node(name: str):  # type: ignore[no-untyped-def]
    async def run(state: State) -> dict[str, list[str]]:
        await asyncio.sleep(PAUSE_SECONDS)
        return {"steps": [name]}

    return run


builder = StateGraph(State)
previous = START
for i in range(N_NODES):
    name = f"wait_{i}"
    builder.add_node(name, _node(name))
    builder.add_edge(previous, name)
    previous = name
graph = builder.compile(name="sleepy")
