"""Returns the string values of its run's ``config["configurable"]`` (request headers copied by
``http.configurable_headers`` among them)."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    seen: dict[str, str]


def echo(state: State, config: RunnableConfig) -> dict[str, Any]:
    configurable = config.get("configurable") or {}
    return {
        "seen": {
            k: v for k, v in configurable.items() if isinstance(v, str) and not k.startswith("__")
        }
    }


builder = StateGraph(State)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
graph = builder.compile(name="echo")
