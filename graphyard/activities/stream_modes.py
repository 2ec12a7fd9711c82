"""LangGraph stream chunks as the reference server's SSE events, one super-step at a time.

A run is executed as one ``astream(..., interrupt_after="*")`` call per super-step, which is
not quite one call per run: a continuing call first re-emits the state it starts from, and each
call ends on an empty ``__interrupt__`` update. ``StepStream`` drops both, so the events a client
sees are the ones ``graph.astream`` over the whole run would give.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from graphyard.serde import interrupt_json

# The stream modes LangGraph itself produces (the rest are built here).
GRAPH_MODES = frozenset({"values", "updates", "custom", "debug", "tasks", "checkpoints"})
STREAM_MODES = GRAPH_MODES | {"messages", "messages-tuple", "events"}
# What a step always needs for itself: node names, interrupts, its last checkpoint.
_OWN_MODES = ("updates", "checkpoints")
_INTERRUPT = "__interrupt__"

Sse = tuple[str, Any]


class StepStream:
    """The SSE events of one step of a run that asked for ``modes``."""

    def __init__(self, modes: list[str], *, continuing: bool) -> None:
        self.modes = set(modes)
        # A continuing call opens with the state, checkpoint and debug checkpoint that the
        # previous step already streamed.
        self._replayed: set[str] = {"values", "checkpoints", "debug"} if continuing else set()
        self._breakpoint: list[Sse] = []
        self._messages: dict[str, BaseMessageChunk | BaseMessage] = {}

    @property
    def graph_modes(self) -> list[str]:
        wanted = set(_OWN_MODES)
        for mode in self.modes:
            if mode in GRAPH_MODES:
                wanted.add(mode)
            elif mode in ("messages", "messages-tuple"):
                wanted.add("messages")
        return sorted(wanted)

    @property
    def wants_events(self) -> bool:
        return "events" in self.modes

    def convert(self, ns: tuple[str, ...], mode: str, chunk: Any) -> Iterator[Sse]:
        """The events for one LangGraph chunk (often none)."""
        if not ns and self._replayed:
            if mode in self._replayed and (mode != "debug" or chunk.get("type") == "checkpoint"):
                self._replayed.discard(mode)
                return
            self._replayed.clear()
        if mode == "messages":
            yield from self._message(ns, chunk)
            return
        if mode not in self.modes:
            return
        name = f"{mode}|{'|'.join(ns)}" if ns else mode
        if mode in ("updates", "values") and isinstance(chunk, dict) and _INTERRUPT in chunk:
            interrupts = chunk[_INTERRUPT]
            chunk = {**chunk, _INTERRUPT: [interrupt_json(i, stream=True) for i in interrupts]}
            if not ns and mode == "updates" and not interrupts:
                # Every step call ends on one: only a real breakpoint lets it through (close).
                self._breakpoint = [(name, chunk)]
                return
        elif mode == "debug" and chunk.get("type") == "checkpoint":
            chunk = {**chunk, "payload": _debug_checkpoint(chunk["payload"])}
        yield name, chunk

    def close(self, *, at_breakpoint: bool) -> list[Sse]:
        """The events held back until the step knows how it ended."""
        return self._breakpoint if at_breakpoint else []

    def _message(self, ns: tuple[str, ...], chunk: Any) -> Iterator[Sse]:
        message, metadata = cast(tuple[BaseMessage, dict[str, Any]], chunk)
        if "messages-tuple" in self.modes:
            yield (f"messages|{'|'.join(ns)}" if ns else "messages"), [message, metadata]
        if "messages" not in self.modes:
            return
        # The reference's "messages" mode: metadata once per message id, then the message
        # accumulated so far (partial) or whole (complete). These names are never namespaced.
        key = message.id or ""
        seen = self._messages.get(key)
        if seen is None:
            self._messages[key] = message
            yield "messages/metadata", {key: {"metadata": metadata}}
        elif isinstance(seen, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self._messages[key] = seen + message
        else:
            self._messages[key] = message
        current = self._messages[key]
        if isinstance(message, BaseMessageChunk):
            whole = message_chunk_to_message(cast(BaseMessageChunk, current))
            yield "messages/partial", [whole]
        else:
            yield "messages/complete", [current]


def _debug_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    """The reference adds checkpoint objects next to the configs, and moves a subgraph task's
    ``state`` (a config) to ``checkpoint``."""
    tasks = []
    for task in payload.get("tasks") or []:
        state = task.get("state")
        if isinstance(state, dict) and state.get("configurable"):
            task = {k: v for k, v in task.items() if k != "state"}
            task["checkpoint"] = state["configurable"]
        tasks.append(task)
    return {
        **payload,
        "checkpoint": _config_to_checkpoint(payload.get("config")),
        "parent_checkpoint": _config_to_checkpoint(payload.get("parent_config")),
        "tasks": tasks,
    }


def _config_to_checkpoint(config: dict[str, Any] | None) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    out = {
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns") or "",
        "checkpoint_id": configurable["checkpoint_id"],
    }
    if configurable.get("checkpoint_map"):
        out["checkpoint_map"] = configurable["checkpoint_map"]
    return out


async def graph_chunks(
    graph: Pregel[Any, Any, Any, Any],
    graph_input: Any,
    config: RunnableConfig,
    stream: StepStream,
    **options: Any,
) -> AsyncIterator[tuple[tuple[str, ...], str, Any]]:
    """``(namespace, mode, chunk)`` from the graph; ``events`` mode needs LangChain's event
    stream, out of which the graph's own chunks are picked by the root run's id."""
    modes: Any = stream.graph_modes
    subgraphs = bool(options.get("subgraphs"))
    if not stream.wants_events:
        parts = graph.astream(graph_input, config, stream_mode=modes, **options)
        async for part in parts:
            yield part if subgraphs else ((), part[0], part[1])
        return
    root = str(uuid.uuid4())
    config = cast(RunnableConfig, {**config, "run_id": root})
    async for event in graph.astream_events(
        graph_input, config, version="v2", stream_mode=modes, **options
    ):
        if "langsmith:hidden" in (event.get("tags") or ()):
            continue
        if event["event"] == "on_chain_stream" and event["run_id"] == root:
            part = event["data"]["chunk"]
            yield part if subgraphs else ((), part[0], part[1])
        else:
            yield (), "events", event
