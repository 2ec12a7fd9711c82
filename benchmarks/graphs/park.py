"""The approval graph's shape for parking many runs: ``draft`` -> ``ask`` (``interrupt()``) ->
``act``. ``act`` counts itself twice: into the state (``acted``, summed) and, when
``PARK_BENCH_LOG`` names a file, as one appended line with its thread id, so the benchmark can
tell a run that never finished from one whose last node ran twice."""

from __future__ import annotations

import operator
import os
from typing import Annotated, Any, TypedDict

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

LOG_VARIABLE = "PARK_BENCH_LOG"


class State(TypedDict, total=False):
    request: str
    draft: str
    approved: bool
    acted: Annotated[int, operator.add]


def draft(state: State) -> dict[str, Any]:
    return {"draft": f"plan for: {state['request']}"}


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "Approve this plan?", "draft": state["draft"]})
    return {"approved": bool(answer)}


def act(state: State) -> dict[str, Any]:
    log = os.environ.get(LOG_VARIABLE)
    if log:
        thread_id = get_config()["configurable"]["thread_id"]
        # One short O_APPEND write per execution: atomic across the worker processes.
        with open(log, "a") as out:
            out.write(f"{thread_id}\n")
    return {"acted": 1}


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("ask", ask)
builder.add_node("act", act)
builder.add_edge(START, "draft")
builder.add_edge("draft", "ask")
builder.add_edge("ask", "act")
builder.add_edge("act", END)
graph = builder.compile(name="park")
