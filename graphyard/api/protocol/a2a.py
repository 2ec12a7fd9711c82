"""A2A (JSON-RPC, protocol 1.0, as the reference serves it) at ``/a2a/{assistant_id}``: every
assistant an agent. ``SendMessage`` runs the assistant on the context's thread and waits,
``SendStreamingMessage`` streams the run from the durable event log, ``GetTask`` reads a run,
``CancelTask`` cancels it; a message on a context whose run waits at an interrupt answers it
(the same run resumes). The 0.3 method names (``message/send`` ...) get 0.3-shaped answers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphyard import __version__
from graphyard.api.auth import RequestAuth
from graphyard.api.protocol import a2a_stream, jsonrpc
from graphyard.api.protocol import a2a_tasks as tasks
from graphyard.api.protocol.a2a_legacy import LEGACY_ROLES, legacy_result
from graphyard.api.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Call, RpcError
from graphyard.api.protocol.runs import answer_when_done, load_run, start_run, wait_run
from graphyard.api.routes.assistants import readable
from graphyard.errors import GraphyardError, NotFound
from graphyard.runs.backends import Services
from graphyard.runs.cancel import cancel_run
from graphyard.runs.request import RunCreate
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.rows import AssistantRow, RunRow

_ALIASES = {
    "message/send": "SendMessage",
    "message/stream": "SendStreamingMessage",
    "tasks/get": "GetTask",
    "tasks/cancel": "CancelTask",
    "tasks/resubscribe": "SubscribeToTask",
}
_METHODS = {"SendMessage", "SendStreamingMessage", "GetTask", "CancelTask", "SubscribeToTask"}


def dump(message: ProtoMessage) -> dict[str, Any]:
    return json_format.MessageToDict(message)


async def handle(
    request: Request, services: Services, auth: RequestAuth, assistant_id: str
) -> Response:
    """One JSON-RPC POST to ``/a2a/{assistant_id}``."""
    try:
        call = await jsonrpc.read_call(request)
    except RpcError as exc:
        return jsonrpc.error_response(exc.code, exc.message)
    if call.method is None:
        return Response(status_code=202)  # a response sent to us: nothing to do
    method = _ALIASES.get(call.method, call.method)
    is_legacy = method != call.method
    if method not in _METHODS:
        return jsonrpc.error_response(METHOD_NOT_FOUND, f"Method not found: {call.method}", call.id)
    try:
        assistant = await _assistant(services, auth, assistant_id)
        if method == "SendStreamingMessage":
            return await a2a_stream.respond(
                request,
                services,
                auth,
                assistant,
                await _send(request, services, auth, assistant, call, is_legacy),
                call.id,
                is_legacy,
            )
        if method == "SendMessage":
            sent = await _send(request, services, auth, assistant, call, is_legacy)
            return answer_when_done(services, sent.run_id, _task_answer(sent, call, is_legacy))
        if method == "SubscribeToTask":
            sent = await _rejoin(services, auth, assistant, call)
            return await a2a_stream.respond(
                request, services, auth, assistant, sent, call.id, is_legacy
            )
        result = await _dispatch(method, request, services, auth, assistant, call, is_legacy)
    except GraphyardError as exc:
        err = jsonrpc.from_graphyard(exc)
        return jsonrpc.error_response(err.code, err.message, call.id)
    except RpcError as exc:
        return jsonrpc.error_response(exc.code, exc.message, call.id)
    body = legacy_result(result) if is_legacy else result
    return JSONResponse({"jsonrpc": "2.0", "id": call.id, "result": body})


def _task_answer(
    sent: tasks.Sent, call: Call, is_legacy: bool
) -> Callable[[RunRow | None], Awaitable[bytes]]:
    async def answer(row: RunRow | None) -> bytes:
        task = {
            "task": dump(tasks.task_for_run(row or sent.row, sent.context_id, sent.history_length))
        }
        result = legacy_result(task) if is_legacy else task
        return orjson.dumps({"jsonrpc": "2.0", "id": call.id, "result": result})

    return answer


async def _assistant(services: Services, auth: RequestAuth, assistant_id: str) -> AssistantRow:
    try:
        key = str(uuid.UUID(assistant_id))
    except ValueError:
        raise RpcError(INVALID_PARAMS, "Invalid assistant ID: must be a UUID") from None
    try:
        return await readable(services, auth, key)
    except NotFound:
        raise RpcError(INVALID_PARAMS, f"Assistant {assistant_id} not found") from None


async def _dispatch(
    method: str,
    request: Request,
    services: Services,
    auth: RequestAuth,
    assistant: AssistantRow,
    call: Call,
    is_legacy: bool,
) -> dict[str, Any]:
    request_type = pb.GetTaskRequest if method == "GetTask" else pb.CancelTaskRequest
    parsed = _parse(call.params, request_type())
    context_id, run_id = tasks.parse_task_id(parsed.id)
    row = await _task_run(services, auth, assistant, context_id, run_id, parsed.id)
    if method == "CancelTask":
        if tasks.state_of(row) in tasks.TERMINAL_STATES:
            raise RpcError(tasks.TASK_NOT_CANCELABLE, f"Task cannot be canceled: {parsed.id}")
        await cancel_run(services, run_id, "interrupt", thread_id=context_id)
        row = await wait_run(services, run_id) or row
        return dump(tasks.task_for_run(row, context_id))
    length = parsed.history_length if parsed.HasField("history_length") else None
    return dump(tasks.task_for_run(row, context_id, length))


async def _rejoin(
    services: Services, auth: RequestAuth, assistant: AssistantRow, call: Call
) -> tasks.Sent:
    """A live task's stream again (a dropped ``SendStreamingMessage``), from the event log."""
    parsed = _parse(call.params, pb.SubscribeToTaskRequest())
    context_id, run_id = tasks.parse_task_id(parsed.id)
    row = await _task_run(services, auth, assistant, context_id, run_id, parsed.id)
    if tasks.state_of(row) in tasks.TERMINAL_STATES:
        raise RpcError(tasks.UNSUPPORTED_OPERATION, f"Task {parsed.id} is over: nothing to follow")
    return tasks.Sent(row, context_id, None, None, None)


def _parse(params: dict[str, Any], message: Any) -> Any:
    try:
        return json_format.ParseDict(params, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid params: {exc}") from None


async def _task_run(
    services: Services,
    auth: RequestAuth,
    assistant: AssistantRow,
    context_id: str,
    run_id: str,
    tid: str,
) -> RunRow:
    """The run a task id names, if the caller may read its thread and it ran this assistant."""
    scope = await auth.authorize("threads", "read", {"thread_id": context_id, "run_id": run_id})
    async with services.pool.connection() as conn:
        row = await run_rows.get(conn, run_id, context_id, scope=scope)
    if row is None or str(row["assistant_id"]) != str(assistant["assistant_id"]):
        raise RpcError(tasks.TASK_NOT_FOUND, f"Task not found: {tid}")
    return await load_run(services, run_id) or row


async def _send(
    request: Request,
    services: Services,
    auth: RequestAuth,
    assistant: AssistantRow,
    call: Call,
    is_legacy: bool,
) -> tasks.Sent:
    """Start the run a message asks for, or answer the context's run waiting at an
    interrupt with it."""
    params = call.params
    raw = params.get("message")
    if not isinstance(raw, dict) or not raw:
        raise RpcError(INVALID_PARAMS, "Missing or invalid 'message' in params")
    if isinstance(raw.get("role"), str):
        raw = {**raw, "role": LEGACY_ROLES.get(raw["role"], raw["role"])}
    parsed = _parse({**params, "message": raw}, pb.SendMessageRequest())
    message = parsed.message
    if not message.message_id:
        raise RpcError(INVALID_PARAMS, "Missing required 'messageId' in message")
    if message.role == pb.ROLE_UNSPECIFIED:
        raise RpcError(INVALID_PARAMS, "Missing required 'role' in message")
    if not message.parts:
        raise RpcError(INVALID_PARAMS, "Message must contain at least one part")
    context_id = message.context_id or str(uuid.uuid4())
    if message.task_id:
        task_context, _run = tasks.parse_task_id(message.task_id)
        if message.context_id and task_context != context_id:
            raise RpcError(INVALID_PARAMS, "taskId does not belong to contextId")
        context_id = task_context
    try:
        context_id = str(uuid.UUID(context_id))
    except ValueError:
        raise RpcError(INVALID_PARAMS, "contextId must be a UUID (it names a thread)") from None
    config = parsed.configuration
    history_length = config.history_length if config.HasField("history_length") else None
    inp, answer = tasks.run_input(message)
    async with services.pool.connection() as conn:
        waiting = await run_rows.waiting_on_thread(conn, context_id)
        thread = await thread_rows.get(conn, context_id)
    if message.task_id and (
        waiting is None or tasks.task_id(context_id, str(waiting["run_id"])) != message.task_id
    ):
        raise RpcError(tasks.UNSUPPORTED_OPERATION, "A terminal task cannot accept another message")
    values = thread["values"] if thread else None
    before = values.get("messages") if isinstance(values, dict) else None
    seen = {str(m.get("id")) for m in before or [] if isinstance(m, dict)}
    seen.add(message.message_id)
    fields: dict[str, Any] = {
        "assistant_id": str(assistant["assistant_id"]),
        "if_not_exists": "create",
        "stream_mode": ["values"],
        "metadata": {"a2a_message_id": message.message_id},
    }
    if isinstance(params.get("context"), dict):
        fields["context"] = params["context"]
    if waiting is not None:
        # The next message on a context whose run waits at an interrupt is its answer.
        body = RunCreate.model_validate({**fields, "command": {"resume": answer}})
        submitted = await start_run(services, auth, request, body, context_id)
    else:
        body = RunCreate.model_validate({**fields, "input": inp})
        # The message id makes a retried send find its run instead of starting another.
        submitted = await start_run(services, auth, request, body, context_id, message.message_id)
    return tasks.Sent(submitted.row, context_id, submitted.resumed_from, seen, history_length)


async def agent_card(
    request: Request, services: Services, auth: RequestAuth, assistant_id: str
) -> dict[str, Any]:
    """The assistant's agent card: one skill (itself), JSON-RPC at ``/a2a/{assistant_id}``."""
    try:
        key = str(uuid.UUID(assistant_id))
    except ValueError:
        raise NotFound(f"Assistant {assistant_id} not found") from None
    row = await readable(services, auth, key)
    name = row["name"]
    description = row.get("description") or f"{name} assistant"
    url = str(request.base_url).rstrip("/") + f"/a2a/{key}"
    modes = ["text/plain", "application/json"]
    card = pb.AgentCard(
        name=name,
        description=description,
        supported_interfaces=[
            pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        version=__version__,
        capabilities=pb.AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=modes,
        default_output_modes=modes,
        skills=[
            pb.AgentSkill(
                id=f"{key}-main",
                name=f"{name} Capabilities",
                description=description,
                tags=["assistant", "langgraph"],
                input_modes=modes,
                output_modes=modes,
            )
        ],
    )
    return {**dump(card), "url": url}
