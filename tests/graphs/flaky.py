"""A first node that succeeds, then one that raises the exception class the input names,
recording every attempt in ``node_runs``."""

from __future__ import annotations

import builtins
import os
from typing import Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    error: str


def attempt(state: State, config: RunnableConfig) -> dict[str, Any]:
    with psycopg.connect(
        os.environ["GRAPHYARD_DATABASE_URI"],
        autocommit=True,
        options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
    ) as conn:
        conn.execute(
            "INSERT INTO node_runs (thread_id, node) VALUES (%s, 'attempt')",
            (config["configurable"]["thread_id"],),
        )
    raise getattr(builtins, state["error"])("it failed")


def begin(state: State) -> dict[str, Any]:
    return {}


builder = StateGraph(State)
builder.add_node("begin", begin)
builder.add_node("attempt", attempt)
builder.add_edge(START, "begin")
builder.add_edge("begin", "attempt")
graph = builder.compile(name="flaky")
