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
