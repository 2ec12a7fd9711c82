"""A graph whose second node always raises."""

from __future__ import annotations

import logging
from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    value: str


log = logging.getLogger("tests.graphs.failing")


def ok(state: State) -> State:
    log.info("ok ran; connecting to postgresql://app:hunter2hunter2@db/app")
    return {"value": "ok"}


def boom(state: State) -> State:
    raise ValueError("kaboom")


builder = StateGraph(State)
builder.add_node("ok", ok)
builder.add_node("boom", boom)
builder.add_edge(START, "ok")
builder.add_edge("ok", "boom")
graph = builder.compile(name="failing")
