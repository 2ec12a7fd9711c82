"""A message-based chat graph with a deterministic "model": no network, no API key."""

from __future__ import annotations

import os

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def respond(state: MessagesState) -> dict[str, list[AnyMessage]]:
    last = state["messages"][-1]
    greeting = os.environ.get("GRAPHYARD_EXAMPLE_GREETING", "Hi")
    turns = sum(1 for m in state["messages"] if m.type == "human")
    return {"messages": [AIMessage(f"{greeting}! You said: {last.content} (turn {turns})")]}


builder = StateGraph(MessagesState)
builder.add_node("respond", respond)
builder.add_edge(START, "respond")
builder.add_edge("respond", END)
graph = builder.compile(name="chat")
