"""Three async nodes, each recording its start in ``node_runs`` and then awaiting ``pause``
seconds (default 1.5): a cancel arrives while a node awaits."""

from __future__ import annotations

import asyncio
import operator
import os
from typing import Annotated, Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph

NODES = ["s1", "s2", "s3"]


class State(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]
    pause: float


async def _record(thread_id: str, node: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        os.environ["GRAPHYARD_DATABASE_URI"],
        autocommit=True,
        options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
    ) as conn:
        await conn.execute(
            "INSERT INTO node_runs (thread_id, node) VALUES (%s, %s)", (thread_id, node)
        )


def _node(name: str):  # type: ignore[no-untyped-def]
    async def run(state: State, config: RunnableConfig) -> dict[str, Any]:
        await _record(config["configurable"]["thread_id"], name)
        await asyncio.sleep(state.get("pause", 1.5))
        return {"steps": [name]}

    return run


builder = StateGraph(State)
previous = START
for node in NODES:
    builder.add_node(node, _node(node))
    builder.add_edge(previous, node)
    previous = node
graph = builder.compile(name="slow_chain")
