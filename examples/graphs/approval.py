"""Drafts an action, asks a human with ``interrupt()``, then acts on the answer."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    request: str
    draft: str
    approved: bool
    outcome: str


def draft(state: State) -> dict[str, Any]:
    return {"draft": f"plan for: {state['request']}"}


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "Approve this plan?", "draft": state["draft"]})
    approved = answer is True or (isinstance(answer, dict) and bool(answer.get("approved")))
    return {"approved": approved}


def act(state: State) -> dict[str, Any]:
    return {"outcome": "done: " + state["draft"] if state.get("approved") else "rejected"}


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("ask", ask)
builder.add_node("act", act)
builder.add_edge(START, "draft")
builder.add_edge("draft", "ask")
builder.add_edge("ask", "act")
builder.add_edge("act", END)
graph = builder.compile(name="approval")
