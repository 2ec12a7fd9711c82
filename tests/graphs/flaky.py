"""Two nodes; the one named by ``at`` (default the second) raises the exception class the
input names, until the thread's gate opens (a row in ``gates``). Every attempt at a node is
recorded in ``node_runs``."""

from __future__ import annotations

import builtins
import os
from typing import Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    error: str
    at: str


def _node(name: str):  # type: ignore[no-untyped-def]
    def run(state: State, config: RunnableConfig) -> dict[str, Any]:
        with psycopg.connect(
            os.environ["GRAPHYARD_DATABASE_URI"],
            autocommit=True,
            options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
        ) as conn:
            thread_id = config["configurable"]["thread_id"]
            conn.execute(
                "INSERT INTO node_runs (thread_id, node) VALUES (%s, %s)", (thread_id, name)
            )
            fixed = conn.execute("SELECT 1 FROM gates WHERE thread_id = %s", (thread_id,))
            fixed = fixed.fetchone() is not None
        if state.get("at", "attempt") == name and not fixed:
            raise getattr(builtins, state["error"])("it failed")
        return {}

    return run


builder = StateGraph(State)
builder.add_node("begin", _node("begin"))
builder.add_node("attempt", _node("attempt"))
builder.add_edge(START, "begin")
builder.add_edge("begin", "attempt")
graph = builder.compile(name="flaky")
