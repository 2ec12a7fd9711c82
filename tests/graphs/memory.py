"""Long-term memory: two nodes use the store the API serves.

``recall`` (async, a ``store: BaseStore`` parameter) reads the profile the API put at
``("users", <user>)``; ``remember`` (sync, ``runtime.store``) writes a greeting the API reads
at ``("users", <user>, "notes")`` and lists what the user's namespace holds.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore


class State(TypedDict, total=False):
    user: str
    profile: dict[str, Any] | None
    keys: list[str]


async def recall(state: State, *, store: BaseStore) -> dict[str, Any]:
    item = await store.aget(("users", state["user"]), "profile")
    return {"profile": item.value if item is not None else None}


def remember(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    assert runtime.store is not None, "the worker binds a store into every graph"
    name = (state.get("profile") or {}).get("name", "stranger")
    runtime.store.put(("users", state["user"], "notes"), "greeting", {"text": f"hello {name}"})
    found = runtime.store.search(("users", state["user"]))
    return {"keys": sorted(item.key for item in found)}


builder = StateGraph(State)
builder.add_node("recall", recall)
builder.add_node("remember", remember)
builder.add_edge(START, "recall")
builder.add_edge("recall", "remember")
graph = builder.compile(name="memory")
