"""Reports who the run's graph thinks its caller is (the ``langgraph_auth_*`` configurable keys)."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    note: str
    user_id: str | None
    user: dict[str, Any] | None
    permissions: list[str] | None


def whoami(state: State, config: RunnableConfig) -> dict[str, Any]:
    configurable = config.get("configurable") or {}
    user = configurable.get("langgraph_auth_user")
    return {
        "user_id": configurable.get("langgraph_auth_user_id"),
        # As on the reference, the user reads as an object and as a mapping.
        "user": {**dict(user), "via_attribute": user.identity} if user is not None else None,
        "permissions": configurable.get("langgraph_auth_permissions"),
    }


builder = StateGraph(State)
builder.add_node("whoami", whoami)
builder.add_edge(START, "whoami")
graph = builder.compile(name="whoami")


# Who each call of the factory below was for (the test reads it in its own process).
FACTORY_CALLERS: list[str | None] = []


def per_user(config: RunnableConfig) -> Any:
    """A graph factory: called for each run and each state read, with the caller's
    ``langgraph_auth_*`` keys in ``config`` (a factory may build a graph per user)."""
    FACTORY_CALLERS.append((config.get("configurable") or {}).get("langgraph_auth_user_id"))
    return graph
