"""An agent for the thread-stream tests (tests/test_thread_stream.py): it calls a tool (through
LangGraph's ``ToolNode``), then hands over to a ``researcher`` subgraph whose fake model
(langchain-core's ``GenericFakeChatModel``, no network) streams its findings token by token."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

FINDINGS = "Research says Paris is sunny today"


@tool
def get_weather(city: str) -> str:
    """The weather in ``city``."""
    return f"sunny in {city}"


def agent(state: MessagesState) -> dict[str, Any]:
    call = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call-weather-1"}
    return {"messages": [AIMessage("", tool_calls=[call], id="ai-call-1")]}


async def research(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=iter([AIMessage(FINDINGS)]))
    reply = await model.ainvoke(state["messages"], config)
    return {"messages": [AIMessage(content=reply.content, id=reply.id)]}


_research = StateGraph(MessagesState)
_research.add_node("research", research)
_research.add_edge(START, "research")
_research.add_edge("research", END)
researcher = _research.compile(name="researcher")

builder = StateGraph(MessagesState)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode([get_weather]))
builder.add_node("researcher", researcher)
builder.add_edge(START, "agent")
builder.add_edge("agent", "tools")
builder.add_edge("tools", "researcher")
builder.add_edge("researcher", END)
graph = builder.compile(name="protocol_agent")
