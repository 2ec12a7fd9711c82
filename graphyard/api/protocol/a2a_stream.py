"""``SendStreamingMessage``: the run's events read from the durable event log (as
``/runs/stream`` reads them) and told as A2A events: the task, ``working``, each new agent
message as it lands in the state, then the answer's artifact and the final status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from graphyard.api import sse
from graphyard.api.auth import RequestAuth
from graphyard.api.protocol import a2a_tasks as tasks
from graphyard.api.protocol.a2a_legacy import legacy_result
from graphyard.api.protocol.jsonrpc import RequestId
from graphyard.api.protocol.runs import load_run, wait_run
from graphyard.runs.backends import Services
from graphyard.storage.rows import AssistantRow


def _frame(data: bytes) -> tuple[str, str]:
    """``(event, data)`` of one frame ``sse.frame`` wrote."""
    fields = dict(line.split(": ", 1) for line in data.decode().split("\r\n") if ": " in line)
    return fields.get("event", ""), fields.get("data", "null")


async def events(
    services: Services, assistant: AssistantRow, sent: tasks.Sent
) -> AsyncIterator[pb.StreamResponse]:
    """The A2A events of the run a message started (or resumed)."""
    ctx, tid = sent.context_id, sent.task_id
    # A re-joined task is as far as its run got; a new one just submitted.
    state = tasks.state_of(sent.row) if sent.seen is None else pb.TASK_STATE_SUBMITTED
    yield pb.StreamResponse(task=pb.Task(id=tid, context_id=ctx, status=tasks.status(state)))
    working = pb.TaskStatusUpdateEvent(
        task_id=tid, context_id=ctx, status=tasks.status(pb.TASK_STATE_WORKING)
    )
    yield pb.StreamResponse(status_update=working)
    seen = set(sent.seen or ())
    first = sent.seen is None
    after = sent.resumed_from - 1 if sent.resumed_from else 0
    async for frame in sse.follow_run(services, sent.run_id, after=after):
        event, data = _frame(frame)
        if event != "values":
            continue
        values = orjson.loads(data)
        messages = values.get("messages", []) if isinstance(values, dict) else []
        if first:  # a re-joined stream: the run's input state is not news
            first = False
            seen.update(str(m.get("id")) for m in messages if isinstance(m, dict))
            continue
        for message in messages:
            key = str(message.get("id")) if isinstance(message, dict) else None
            if key is None or key in seen:
                continue
            seen.add(key)
            news = tasks.a2a_message(message, ctx, tid)
            if news is not None and news.role == pb.ROLE_AGENT:
                update = pb.TaskStatusUpdateEvent(
                    task_id=tid, context_id=ctx, status=tasks.status(pb.TASK_STATE_WORKING, news)
                )
                yield pb.StreamResponse(status_update=update)
    row = await load_run(services, sent.run_id)
    if row is not None and tasks.state_of(row) not in (
        tasks.TERMINAL_STATES | {pb.TASK_STATE_INPUT_REQUIRED}
    ):
        row = await wait_run(services, sent.run_id)
    if row is None:
        return
    task = tasks.task_for_run(row, ctx)
    for artifact in task.artifacts:
        yield pb.StreamResponse(
            artifact_update=pb.TaskArtifactUpdateEvent(
                task_id=tid, context_id=ctx, artifact=artifact, append=False, last_chunk=True
            )
        )
    final = pb.TaskStatusUpdateEvent(task_id=tid, context_id=ctx)
    final.status.CopyFrom(task.status)
    yield pb.StreamResponse(status_update=final)


async def _body(
    services: Services, assistant: AssistantRow, sent: tasks.Sent, id_: RequestId, is_legacy: bool
) -> AsyncIterator[ServerSentEvent]:
    async for item in events(services, assistant, sent):
        result = json_format.MessageToDict(item)
        body = {
            "jsonrpc": "2.0",
            "id": id_,
            "result": legacy_result(result) if is_legacy else result,
        }
        yield ServerSentEvent(data=orjson.dumps(body).decode(), id=str(uuid.uuid4()))


async def respond(
    request: Request,
    services: Services,
    auth: RequestAuth,
    assistant: AssistantRow,
    sent: tasks.Sent,
    id_: RequestId,
    is_legacy: bool,
) -> EventSourceResponse:
    """The SSE response; the run goes on if the client leaves (it is durable)."""
    return EventSourceResponse(
        _body(services, assistant, sent, id_, is_legacy),
        ping=services.settings.stream_heartbeat_seconds,
        send_timeout=services.settings.stream_send_timeout_seconds,
    )
