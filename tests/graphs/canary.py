"""A graph that uses a secret from the worker's environment (tests/test_secrets.py).

``sign`` returns the HMAC of the input text under the secret (so a test knowing the secret
can tell the node used it) and never puts the secret in state. ``mode: "ask"`` stops at an
interrupt first; ``mode: "fail"`` makes ``sign`` log and raise an error quoting the secret and
the input text, as careless graph code does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import TypedDict

from langgraph.graph import START, StateGraph
from langgraph.types import interrupt

SECRET_ENV = "CANARY_API_KEY"

log = logging.getLogger("tests.graphs.canary")


class State(TypedDict, total=False):
    text: str
    mode: str
    answer: str
    digest: str


def ask(state: State) -> State:
    if state.get("mode") != "ask":
        return {}
    return {"answer": str(interrupt({"question": "sign this?"}))}


def sign(state: State) -> State:
    key = os.environ[SECRET_ENV]
    text = state.get("text", "") + state.get("answer", "")
    if state.get("mode") == "fail":
        log.warning("signing %r with key %s", text, key)
        raise RuntimeError(f"upstream refused key {key} for {text}")
    return {"digest": hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()}


builder = StateGraph(State)
builder.add_node("ask", ask)
builder.add_node("sign", sign)
builder.add_edge(START, "ask")
builder.add_edge("ask", "sign")
graph = builder.compile(name="canary")
