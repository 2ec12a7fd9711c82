"""A graph whose state is a pydantic model: LangGraph validates values against it when it
reads the state back, also the input a failed run left in the thread's checkpoint."""

from __future__ import annotations

from langgraph.graph import START, StateGraph
from pydantic import BaseModel


class Counter(BaseModel):
    a: int
    total: int = 0


def add(state: Counter) -> dict[str, int]:
    return {"total": state.a + 1}


builder = StateGraph(Counter)
builder.add_node("add", add)
builder.add_edge(START, "add")
graph = builder.compile(name="pydantic_state")
