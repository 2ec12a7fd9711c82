"""Graph factories of every form the reference server calls (tests/test_run_control.py): no
argument, the config, the ``ServerRuntime``, both (either order, by annotation), async, and
context managers (sync and async) whose entries and exits land in ``node_runs``; and two that
cannot make a graph."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.pregel import Pregel
from langgraph_sdk.runtime import ServerRuntime
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    made: str
    access: str | None
    context: Any
    flavour: Any


def _record(config: RunnableConfig, what: str) -> None:
    thread_id = (config.get("configurable") or {}).get("thread_id")
    with psycopg.connect(
        os.environ["GRAPHYARD_DATABASE_URI"],
        autocommit=True,
        options=f"-c search_path={os.environ['GRAPHYARD_DATABASE_SCHEMA']}",
    ) as conn:
        conn.execute("INSERT INTO node_runs (thread_id, node) VALUES (%s, %s)", (thread_id, what))


def _graph(
    made: str, config: RunnableConfig | None = None, runtime: ServerRuntime[Any] | None = None
) -> Pregel[Any, Any, Any, Any]:
    values: State = {
        "made": made,
        "access": runtime.access_context if runtime is not None else None,
        "context": runtime.context if runtime is not None and hasattr(runtime, "context") else None,
        "flavour": ((config or {}).get("configurable") or {}).get("flavour"),
    }

    def node(state: State) -> State:
        return values

    builder = StateGraph(State)
    builder.add_node("make", node)
    builder.add_edge(START, "make")
    return builder.compile()


def no_args() -> Pregel[Any, Any, Any, Any]:
    return _graph("no_args")


def config_only(config: RunnableConfig) -> Pregel[Any, Any, Any, Any]:
    return _graph("config_only", config)


def runtime_only(runtime: ServerRuntime[Any]) -> Pregel[Any, Any, Any, Any]:
    return _graph("runtime_only", None, runtime)


def make_graph(config, runtime: ServerRuntime):  # type: ignore[no-untyped-def]
    return _graph("make_graph", config, runtime)


def runtime_first(
    runtime: ServerRuntime[Any], config: RunnableConfig
) -> Pregel[Any, Any, Any, Any]:
    return _graph("runtime_first", config, runtime)


async def async_pair(
    config: RunnableConfig, runtime: ServerRuntime[Any]
) -> Pregel[Any, Any, Any, Any]:
    return _graph("async_pair", config, runtime)


@contextlib.contextmanager
def sync_managed(config: RunnableConfig) -> Iterator[Pregel[Any, Any, Any, Any]]:
    _record(config, "enter")
    try:
        yield _graph("sync_managed", config)
    finally:
        _record(config, "exit")


@contextlib.asynccontextmanager
async def async_managed(
    config: RunnableConfig, runtime: ServerRuntime[Any]
) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
    _record(config, "enter")
    try:
        yield _graph("async_managed", config, runtime)
    finally:
        _record(config, "exit")


def two_configs(config: RunnableConfig, other: RunnableConfig) -> Pregel[Any, Any, Any, Any]:
    return _graph("never")


def broken(config: RunnableConfig) -> Pregel[Any, Any, Any, Any]:
    raise RuntimeError("no graph today")
