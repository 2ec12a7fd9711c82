"""Six async nodes, each recording its execution in ``node_runs`` and then working for
``pause`` seconds: many runs of it stay in flight at once, so a test can kill a process under
them at any point of a super-step. With ``hold`` (an advisory lock key), the first node waits
until the test releases that lock, so that many runs start together.

The side-table writes wait out a database restart (as a graph that does not use Postgres would
not notice one): only graphyard's own handling of the outage is under test.
"""

from __future__ import annotations

import asyncio
import operator
import os
import time
from typing import Annotated, Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph

NODES = [f"p{i}" for i in range(6)]


class State(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]
    pause: float
    hold: int


async def _connect() -> psycopg.AsyncConnection[Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await psycopg.AsyncConnection.connect(
                os.environ["GRAPHYARD_DATABASE_URI"],
                autocommit=True,
                options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
                connect_timeout=5,
            )
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _record(thread_id: str, node: str, hold: int | None) -> None:
    # Only the connection is retried: an insert that failed may have committed.
    async with await _connect() as conn:
        await conn.execute(
            "INSERT INTO node_runs (thread_id, node) VALUES (%s, %s)", (thread_id, node)
        )
        if hold is not None:
            # The test holds this lock exclusively until every run got here.
            await conn.execute("SELECT pg_advisory_lock_shared(%s)", (hold,))


def _node(name: str):  # type: ignore[no-untyped-def]
    async def run(state: State, config: RunnableConfig) -> dict[str, Any]:
        hold = state.get("hold") if name == NODES[0] else None
        await _record(config["configurable"]["thread_id"], name, hold)
        await asyncio.sleep(state.get("pause", 0))
        return {"steps": [name]}

    return run


builder = StateGraph(State)
previous = START
for node in NODES:
    builder.add_node(node, _node(node))
    builder.add_edge(previous, node)
    previous = node
graph = builder.compile(name="paced")
