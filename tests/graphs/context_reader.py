"""Returns what its node sees of the run's context: ``runtime.context`` and the same keys in
``config["configurable"]`` (where older graphs read them)."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime


class State(TypedDict, total=False):
    context: Any
    configurable_user: Any


def read(state: State, config: RunnableConfig, runtime: Runtime[Any]) -> State:
    return {
        "context": runtime.context,
        "configurable_user": (config.get("configurable") or {}).get("user"),
    }


builder = StateGraph(State)
builder.add_node("read", read)
builder.add_edge(START, "read")
graph = builder.compile(name="context_reader")
