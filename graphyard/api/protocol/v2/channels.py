"""Graphyard's logged stream events as the protocol's channels.

A run logs the REST API's SSE events (``values``, ``updates|<ns>``, ``messages|<ns>`` tuples,
``custom``, ``tasks``, ``checkpoints``, ``error``, and the ``metadata``/``run_paused``/
``run_done`` markers). ``Projector`` turns each into the protocol events it stands for, plus the
ones the protocol derives: ``lifecycle`` (a run running, interrupted, completed or failed; a
subgraph started and completed), ``input.requested`` (an interrupt) and ``tools`` (a tool call
and its result, from the ``updates`` that carry ``ToolMessage``s). It is deterministic: the same
rows from the same start give the same events on any API process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from langchain_protocol import ToolErrorData, ToolFinishedData, ToolStartedData

from graphyard.api.protocol.v2.messages import MessageStreams
from graphyard.storage import events as event_log

_INTERRUPT = "__interrupt__"


@dataclass(frozen=True)
class Out:
    """One protocol event before its envelope: ``method``, namespace, ``data``, ``node``."""

    method: str
    namespace: list[str]
    data: Any
    node: str | None = None


@dataclass
class _Run:
    running: bool = False
    failed: bool = False
    asked: set[str] = field(default_factory=set)  # interrupt ids already seen
    pending: list[Out] = field(default_factory=list)  # their requests, until the run waits
    subgraphs: set[tuple[str, ...]] = field(default_factory=set)  # started, not completed
    tool_args: dict[str, Any] = field(default_factory=dict)  # tool_call_id -> (name, args)
    # A subgraph's update repeats the messages it was given: a result is told once.
    tool_results: set[str] = field(default_factory=set)
    messages: MessageStreams = field(default_factory=MessageStreams)


def _lifecycle(ns: list[str], status: str, **extra: Any) -> Out:
    return Out("lifecycle", ns, {"event": status, **extra})


class Projector:
    """The protocol events of a thread's log rows, fed in order."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}

    def feed(self, run_id: str, name: str, data_text: str, *, resumed: bool = False) -> list[Out]:
        """The events of one log row; ``resumed``: a ``run_paused`` row the run has gone on
        from since, whose interrupt is answered (a replay does not ask again)."""
        run = self._runs.setdefault(run_id, _Run())
        if name == event_log.STATE_UPDATE:
            return []
        out: list[Out] = []
        if not run.running and name not in (event_log.RUN_DONE, event_log.RUN_PAUSED):
            # A run's first event, or the first of the segment an answer resumed.
            run.running = True
            out.append(_lifecycle([], "running"))
        if name == "metadata":
            return out
        if name == event_log.RUN_PAUSED:
            # Only now can input.respond resume the run: the requests go out here.
            run.running = False
            asks, run.pending = run.pending, []
            if resumed:
                return [*out, *self._close_messages(run)]
            return [*out, *self._close_messages(run), *asks, _lifecycle([], "interrupted")]
        if name == event_log.RUN_DONE:
            out += self._close_messages(run)
            out += run.pending
            out += [_lifecycle(list(ns), "completed") for ns in sorted(run.subgraphs)]
            if not run.failed:
                out.append(_lifecycle([], "completed"))
            del self._runs[run_id]
            return out
        data = orjson.loads(data_text)
        if name == "error":
            run.failed = True
            message = data.get("message") if isinstance(data, dict) else None
            return [
                *out,
                *self._close_messages(run),
                _lifecycle([], "failed", error=str(message or data)),
            ]
        mode, _, rest = name.partition("|")
        ns = rest.split("|") if rest else []
        out += self._discover(run, ns)
        if mode == "values":
            out += self._values(run, ns, data)
        elif mode == "updates":
            out += self._updates(run, ns, data)
        elif mode == "messages" and isinstance(data, list) and len(data) == 2:
            out += [Out("messages", ns, m) for m in run.messages.feed(tuple(ns), *data)]
        elif mode == "custom":
            out.append(Out("custom", ns, {"payload": data}))
        elif mode == "tasks":
            out.append(Out("tasks", ns, data))
        elif mode == "checkpoints" and isinstance(data, dict):
            out += _checkpoint(ns, data)
        return out

    def _discover(self, run: _Run, ns: list[str]) -> list[Out]:
        """``lifecycle`` ``started`` for each subgraph namespace seen for the first time."""
        out = []
        for depth in range(1, len(ns) + 1):
            path = tuple(ns[:depth])
            if path not in run.subgraphs:
                run.subgraphs.add(path)
                out.append(_lifecycle(list(path), "started", graph_name=path[-1].split(":")[0]))
        return out

    @staticmethod
    def _ask(run: _Run, ns: list[str], interrupts: Any) -> None:
        """Hold an ``input.requested`` for each new interrupt (see ``RUN_PAUSED``)."""
        for item in interrupts if isinstance(interrupts, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in run.asked:
                continue
            run.asked.add(item["id"])
            value = item.get("value")
            # The protocol names it payload; langgraph-sdk 0.4.14 reads value.
            run.pending.append(
                Out(
                    "input.requested",
                    ns,
                    {"interrupt_id": item["id"], "payload": value, "value": value},
                )
            )

    def _values(self, run: _Run, ns: list[str], data: Any) -> list[Out]:
        if not isinstance(data, dict):
            return [Out("values", ns, data)]
        self._ask(run, ns, data.get(_INTERRUPT))
        out = []
        values = {k: v for k, v in data.items() if k != _INTERRUPT}
        self._remember_tool_calls(run, values)
        if values or _INTERRUPT not in data:
            out.append(Out("values", ns, values))
        return out

    def _updates(self, run: _Run, ns: list[str], data: Any) -> list[Out]:
        if not isinstance(data, dict):
            return []
        out: list[Out] = []
        for node, values in data.items():
            if node == _INTERRUPT:
                self._ask(run, ns, values)
                continue
            self._remember_tool_calls(run, values)
            out += self._finish_messages(run, ns, values)
            payload = values if isinstance(values, dict) else {"value": values}
            out.append(Out("updates", ns, {"node": node, "values": payload}, node=node))
            out += self._tool_results(run, ns, node, values)
            out += self._child_done(run, ns, node)
        return out

    def _child_done(self, run: _Run, ns: list[str], node: str) -> list[Out]:
        """A node's update at ``ns`` closes the subgraph it ran below (``ns + [node:<task>]``)."""
        done = [
            path
            for path in run.subgraphs
            if len(path) == len(ns) + 1 and list(path[:-1]) == ns and path[-1].split(":")[0] == node
        ]
        out = []
        for path in sorted(done):
            for child in sorted(p for p in run.subgraphs if p[: len(path)] == path):
                run.subgraphs.discard(child)
                if child != path:
                    out.append(_lifecycle(list(child), "completed"))
            out.append(_lifecycle(list(path), "completed"))
        return out

    @staticmethod
    def _messages_of(values: Any) -> list[dict[str, Any]]:
        messages = values.get("messages") if isinstance(values, dict) else None
        if isinstance(messages, dict):
            messages = [messages]
        return [m for m in messages or [] if isinstance(m, dict)]

    def _remember_tool_calls(self, run: _Run, values: Any) -> None:
        for message in self._messages_of(values):
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    run.tool_args[call["id"]] = (call.get("name"), call.get("args"))

    def _finish_messages(self, run: _Run, ns: list[str], values: Any) -> list[Out]:
        """A node's update carries the messages it streamed, whole: they are finished."""
        out = []
        for message in self._messages_of(values):
            if isinstance(message.get("id"), str):
                out += [
                    Out("messages", ns, m) for m in run.messages.finish(tuple(ns), message["id"])
                ]
        return out

    def _tool_results(self, run: _Run, ns: list[str], node: str, values: Any) -> list[Out]:
        out = []
        for message in self._messages_of(values):
            call_id = message.get("tool_call_id")
            if message.get("type") != "tool" or not isinstance(call_id, str):
                continue
            if call_id in run.tool_results:
                continue
            run.tool_results.add(call_id)
            name, args = run.tool_args.get(call_id, (message.get("name"), None))
            started: ToolStartedData = {
                "event": "tool-started",
                "tool_call_id": call_id,
                "tool_name": name or message.get("name") or "",
            }
            if args is not None:
                started["input"] = args
            out.append(Out("tools", ns, started, node=node))
            end: ToolErrorData | ToolFinishedData
            if message.get("status") == "error":
                end = {
                    "event": "tool-error",
                    "tool_call_id": call_id,
                    "message": str(message.get("content")),
                }
            else:
                end = {"event": "tool-finished", "tool_call_id": call_id, "output": message}
            out.append(Out("tools", ns, end, node=node))
        return out

    def _close_messages(self, run: _Run) -> list[Out]:
        return [Out("messages", list(ns), m) for ns, ms in run.messages.finish_all() for m in ms]


def _checkpoint(ns: list[str], data: dict[str, Any]) -> list[Out]:
    """A ``checkpoints`` event as the protocol's ``Checkpoint`` (id, parent, step, source)."""
    configurable = (data.get("config") or {}).get("configurable") or {}
    metadata = data.get("metadata") or {}
    if not isinstance(configurable.get("checkpoint_id"), str):
        return []
    out: dict[str, Any] = {
        "id": configurable["checkpoint_id"],
        "step": metadata.get("step", -1),
        "source": metadata.get("source", "loop"),
    }
    parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
    if isinstance(parent, str):
        out["parent_id"] = parent
    return [Out("checkpoints", ns, out)]
