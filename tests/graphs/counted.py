"""A five-node chain whose nodes record every execution in a side table.

A node named in the ``gate`` input blocks until the test opens the gate, so a test can kill the
worker while that node is running.
"""

from __future__ import annotations

import operator
import os
import time
from typing import Annotated, Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph

NODES = [f"c{i}" for i in range(5)]


class State(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]
    gate: str


def _connect() -> psycopg.Connection[Any]:
    return psycopg.connect(
        os.environ["GRAPHYARD_DATABASE_URI"],
        autocommit=True,
        options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
    )


def _node(name: str):  # type: ignore[no-untyped-def]
    def run(state: State, config: RunnableConfig) -> dict[str, list[str]]:
        thread_id = config["configurable"]["thread_id"]
        with _connect() as conn:
            conn.execute(
                "INSERT INTO node_runs (thread_id, node) VALUES (%s, %s)", (thread_id, name)
            )
            if state.get("gate") == name:
                # Block until the test opens the gate (it polls for our row above first).
                while (
                    conn.execute(
                        "SELECT 1 FROM gates WHERE thread_id IN (%s, '*')", (thread_id,)
                    ).fetchone()
                    is None
                ):
                    time.sleep(0.05)
        return {"steps": [name]}

    return run


builder = StateGraph(State)
previous = START
for node in NODES:
    builder.add_node(node, _node(node))
    builder.add_edge(previous, node)
    previous = node
graph = builder.compile(name="counted")
