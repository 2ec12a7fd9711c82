"""A2A tasks as graphyard runs: a task is a run (its id ``<context_id>:<run_id>``, the context
a thread), its state the run's status (a run waiting at an interrupt is ``input-required``),
its artifact the graph's answer. Built with ``a2a-sdk``'s protobuf types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format

from graphyard.api.protocol.jsonrpc import INVALID_PARAMS, RpcError
from graphyard.storage.rows import RunRow

TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005

TERMINAL_STATES = frozenset(
    {pb.TASK_STATE_COMPLETED, pb.TASK_STATE_FAILED, pb.TASK_STATE_CANCELED, pb.TASK_STATE_REJECTED}
)
_USER_TYPES = {"human", "humanmessage", "humanmessagechunk", "user"}
_AGENT_TYPES = {"ai", "aimessage", "aimessagechunk", "assistant"}


def task_id(context_id: str, run_id: str) -> str:
    return f"{context_id}:{run_id}"


def parse_task_id(value: str) -> tuple[str, str]:
    """``(context_id, run_id)`` of a task id; ``RpcError`` (task not found) otherwise."""
    context_id, _, run_id = value.partition(":")
    try:
        return str(uuid.UUID(context_id)), str(uuid.UUID(run_id))
    except ValueError:
        raise RpcError(TASK_NOT_FOUND, f"Task not found: {value}") from None


def state_of(row: RunRow) -> int:
    """The A2A state of a run."""
    status = row["status"]
    if row.get("waiting"):
        return pb.TASK_STATE_INPUT_REQUIRED
    return {
        "pending": pb.TASK_STATE_SUBMITTED,
        "running": pb.TASK_STATE_WORKING,
        "success": pb.TASK_STATE_COMPLETED,
        "interrupted": pb.TASK_STATE_CANCELED,
        "error": pb.TASK_STATE_FAILED,
        "timeout": pb.TASK_STATE_FAILED,
    }.get(status, pb.TASK_STATE_SUBMITTED)


def content_text(content: Any) -> str:
    """A LangChain message's content as text (the text blocks of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        ]
        return "".join(texts)
    return "" if content is None else str(content)


def _kind(message: dict[str, Any]) -> str:
    kind = str(message.get("type") or message.get("role") or "").lower()
    if kind in ("chat", "chatmessage"):
        kind = str(message.get("role", "")).lower()
    return kind


def a2a_message(message: Any, context_id: str, tid: str) -> pb.Message | None:
    """A user or agent LangChain message (as JSON) as an A2A message; others ``None``."""
    if not isinstance(message, dict):
        return None
    kind = _kind(message)
    if kind in _USER_TYPES:
        role = pb.ROLE_USER
    elif kind in _AGENT_TYPES:
        role = pb.ROLE_AGENT
    else:
        return None
    text = content_text(message.get("content"))
    if not text:
        return None
    return pb.Message(
        message_id=str(message.get("id") or uuid.uuid4()),
        context_id=context_id,
        task_id=tid,
        role=role,
        parts=[pb.Part(text=text)],
    )


def answer_parts(output: Any) -> list[pb.Part]:
    """The graph's answer: its last agent message's text, else its output as data."""
    messages = output.get("messages") if isinstance(output, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and _kind(message) in _AGENT_TYPES:
            text = content_text(message.get("content"))
            if text:
                return [pb.Part(text=text)]
    part = pb.Part()
    json_format.ParseDict(output if output is not None else {}, part.data)
    return [part]


def interrupt_artifact(interrupts: list[Any]) -> pb.Artifact:
    parts = []
    for item in interrupts:
        part = pb.Part()
        value = item if isinstance(item, dict) else {"value": item}
        json_format.ParseDict({"id": value.get("id"), "value": value.get("value")}, part.data)
        parts.append(part)
    return pb.Artifact(
        artifact_id=str(uuid.uuid4()),
        name="Interrupt",
        description="Agent requires input to continue",
        parts=parts,
    )


def answer_artifact(output: Any, assistant_id: str) -> pb.Artifact:
    return pb.Artifact(
        artifact_id=str(uuid.uuid4()),
        name="Assistant Response",
        description=f"Response from assistant {assistant_id}",
        parts=answer_parts(output),
    )


def status(state: int, message: pb.Message | None = None) -> pb.TaskStatus:
    out = pb.TaskStatus(state=state, message=message)  # type: ignore[arg-type]
    out.timestamp.FromDatetime(datetime.now(UTC))
    return out


def task_for_run(row: RunRow, context_id: str, history_length: int | None = None) -> pb.Task:
    """The task a run is: its state, history (the thread's messages) and artifacts."""
    tid = task_id(context_id, str(row["run_id"]))
    state = state_of(row)
    output = row.get("output")
    task = pb.Task(id=tid, context_id=context_id)
    messages = output.get("messages") if isinstance(output, dict) else None
    history = [m for m in (a2a_message(x, context_id, tid) for x in messages or []) if m]
    if history_length is not None:
        history = history[-history_length:] if history_length else []
    task.history.extend(history)
    if state == pb.TASK_STATE_FAILED:
        error = (output or {}).get("__error__") if isinstance(output, dict) else None
        detail = error.get("message") or error.get("error") if isinstance(error, dict) else error
        note = pb.Message(
            message_id=str(uuid.uuid4()),
            context_id=context_id,
            task_id=tid,
            role=pb.ROLE_AGENT,
            parts=[pb.Part(text=f"Error executing assistant: {detail or row['status']}")],
        )
        task.status.CopyFrom(status(state, note))
    elif state == pb.TASK_STATE_INPUT_REQUIRED:
        task.status.CopyFrom(status(state))
        task.artifacts.append(interrupt_artifact((output or {}).get("__interrupt__") or []))
    elif state == pb.TASK_STATE_COMPLETED:
        task.status.CopyFrom(status(state))
        task.artifacts.append(answer_artifact(output, str(row["assistant_id"])))
    else:
        task.status.CopyFrom(status(state))
    return task


def run_input(message: pb.Message) -> tuple[dict[str, Any], Any]:
    """The run input a message makes (its text a human message, its data parts merged in),
    and the value it answers an interrupt with (its data, else its text)."""
    texts: list[str] = []
    data: dict[str, Any] = {}
    for part in message.parts:
        which = part.WhichOneof("content")
        if which == "text":
            texts.append(part.text)
        elif which == "data":
            value = json_format.MessageToDict(part.data)
            if not isinstance(value, dict):
                raise RpcError(INVALID_PARAMS, "A data part must hold an object")
            data.update(value)
        else:
            raise RpcError(CONTENT_TYPE_NOT_SUPPORTED, f"Unsupported part: {which}")
    text = "\n".join(texts)
    inp: dict[str, Any] = dict(data)
    if texts:
        inp["messages"] = [{"role": "user", "content": text, "id": message.message_id}]
    return inp, (data if data else text)


class Sent:
    """A message sent: the run it started or resumed, on which context."""

    def __init__(
        self,
        row: RunRow,
        context_id: str,
        resumed_from: int | None,
        seen: set[str] | None,
        history_length: int | None,
    ) -> None:
        self.row = row
        self.run_id = str(row["run_id"])
        self.context_id = context_id
        self.task_id = task_id(context_id, self.run_id)
        self.resumed_from = resumed_from
        # Ids of the messages the thread had before (not news in a stream); ``None``: those of
        # the run's first state.
        self.seen = seen
        self.history_length = history_length
