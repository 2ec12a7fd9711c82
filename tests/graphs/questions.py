"""Asks two questions at once (two interrupts in one super-step), ``rounds`` times over."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    rounds: int
    answers: Annotated[list[str], operator.add]


def _asker(name: str):  # type: ignore[no-untyped-def]
    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": name, "round": len(state.get("answers", [])) // 2})
        return {"answers": [f"{name}={answer}"]}

    return ask


def tally(state: State) -> dict[str, Any]:
    return {}


def again(state: State) -> list[str] | str:
    return ["ask_a", "ask_b"] if len(state["answers"]) < 2 * state.get("rounds", 1) else END


builder = StateGraph(State)
builder.add_node("ask_a", _asker("a"))
builder.add_node("ask_b", _asker("b"))
builder.add_node("tally", tally)
builder.add_edge(START, "ask_a")
builder.add_edge(START, "ask_b")
builder.add_edge(["ask_a", "ask_b"], "tally")
builder.add_conditional_edges("tally", again, ["ask_a", "ask_b", END])
graph = builder.compile(name="questions")
