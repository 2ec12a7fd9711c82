"""Protocol commands (``{"id", "method", "params"}``) through graphyard's own doors: ``run.start``
is a run create (admission, auth, secret check, multitask strategy: ``submit.create_run``);
``input.respond`` is the ``resume`` signal every other door sends (``hitl.resume_run``), so the
waiting run goes on. Failures come back as the protocol's error responses, never as HTTP
errors."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_protocol import CommandResponse, ErrorCode, ErrorResponse, ResultData
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from pydantic import ValidationError

from graphyard.api.auth.context import RequestAuth
from graphyard.api.auth.runs import admit_run
from graphyard.api.deps import check_uuid
from graphyard.errors import Forbidden, GraphyardError, NotFound, Unauthorized
from graphyard.runs.backends import Services
from graphyard.runs.request import Command, RunCreate
from graphyard.runs.resume import resume_run
from graphyard.storage import runs as run_rows

log = logging.getLogger(__name__)

# What a protocol run streams into the log: every channel's source, subgraphs included.
RUN_STREAM_MODES = ["values", "updates", "messages-tuple", "custom", "tasks", "checkpoints"]
_NOT_SUPPORTED = frozenset({"input.inject", "state.get", "state.listCheckpoints", "state.fork"})


class CommandError(Exception):
    """A command the server refuses, with the protocol's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def error(command_id: Any, code: ErrorCode, message: str) -> ErrorResponse:
    valid = isinstance(command_id, int) and not isinstance(command_id, bool) and command_id >= 0
    return {"type": "error", "id": command_id if valid else None, "error": code, "message": message}


def envelope_error(payload: Any) -> ErrorResponse | None:
    """The error for a payload that is no command at all (no integer id, no string method)."""
    command_id = payload.get("id") if isinstance(payload, dict) else None
    if (
        not isinstance(payload, dict)
        or not isinstance(command_id, int)
        or isinstance(command_id, bool)
        or command_id < 0
        or not isinstance(payload.get("method"), str)
    ):
        return error(
            command_id,
            "invalid_argument",
            "Protocol commands must include an integer id and string method.",
        )
    if not isinstance(payload.get("params", {}), dict):
        return error(command_id, "invalid_argument", "params must be a JSON object")
    return None


@dataclass
class Context:
    """Who sends commands to which thread."""

    services: Services
    auth: RequestAuth
    thread_id: str
    headers: dict[str, str] = field(default_factory=dict)


async def dispatch(ctx: Context, payload: dict[str, Any]) -> CommandResponse | ErrorResponse:
    """Run one well-formed command (see ``envelope_error``) and answer it."""
    command_id: int = payload["id"]
    method: str = payload["method"]
    params: dict[str, Any] = payload.get("params") or {}
    try:
        if method == "run.start":
            result = await _run_start(ctx, params)
        elif method == "input.respond":
            result = await _input_respond(ctx, params)
        elif method == "agent.getTree":
            result = await _tree(ctx, params)
        elif method == "subscription.subscribe":
            result = {"subscription_id": str(uuid.uuid4())}  # HTTP: the stream is the subscription
        elif method == "subscription.unsubscribe":
            result = {}
        elif method == "subscription.reconnect":
            # Over HTTP a stream resumes with ``since``; nothing is held server-side to restore.
            result = {"restored": False}
        elif method in _NOT_SUPPORTED:
            raise CommandError("not_supported", f"{method} is not supported by this server")
        else:
            raise CommandError("unknown_command", f"Unknown command: {method}")
    except CommandError as exc:
        return error(command_id, exc.code, exc.message)
    except (Unauthorized, Forbidden, AuthHTTPException) as exc:
        return error(command_id, "permission_denied", str(getattr(exc, "detail", exc)))
    except ValidationError as exc:
        return error(command_id, "invalid_argument", _validation_message(exc))
    except GraphyardError as exc:
        code: ErrorCode = "unknown_error" if exc.status_code >= 500 else "invalid_argument"
        return error(command_id, code, str(exc.detail))
    except Exception:
        # Never a dropped connection or a 500: the client gets the command's error.
        log.exception("protocol command %s failed", method)
        return error(command_id, "unknown_error", f"{method} failed on the server")
    return {"type": "success", "id": command_id, "result": cast(ResultData, result)}


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


async def _run_start(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from graphyard.runs.submit import create_run  # submit imports the run machinery: late

    if not isinstance(params.get("assistant_id"), str) or not params["assistant_id"]:
        raise CommandError("invalid_argument", "run.start needs params.assistant_id (a string)")
    body = RunCreate.model_validate(
        {
            "assistant_id": params["assistant_id"],
            "input": params.get("input"),
            "config": params.get("config"),
            "metadata": params.get("metadata"),
            "multitask_strategy": params.get("multitask_strategy"),
            "stream_mode": RUN_STREAM_MODES,
            "stream_subgraphs": True,
            "if_not_exists": "create",
        }
    )
    body, caller = await admit_run(ctx.auth, body, ctx.thread_id)
    submitted = await create_run(
        ctx.services,
        body,
        thread_id=ctx.thread_id,
        idempotency_key=None,
        caller=caller,
        headers=ctx.headers,
    )
    return {"run_id": str(submitted.row["run_id"])}


def _answers(params: dict[str, Any]) -> dict[str, Any]:
    """``{interrupt_id: response}`` from ``InputRespondOne`` or ``InputRespondMany``."""
    entries = params.get("responses") if "responses" in params else [params]
    if not isinstance(entries, list) or not entries:
        raise CommandError("invalid_argument", "input.respond needs responses")
    answers: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
            raise CommandError("invalid_argument", "input.respond needs an interrupt_id (string)")
        if "response" not in entry:
            raise CommandError("invalid_argument", "input.respond needs a response")
        answers[entry["interrupt_id"]] = entry["response"]
    return answers


async def _input_respond(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    answers = _answers(params)
    command = Command.model_validate(
        {"resume": answers, "update": params.get("update"), "goto": params.get("goto")}
    )
    async with ctx.services.pool.connection() as conn, conn.transaction():
        waiting = await run_rows.waiting_on_thread(conn, ctx.thread_id)
    if waiting is None:
        raise CommandError("no_such_interrupt", "No run of this thread waits at an interrupt")
    asked = {
        i.get("id")
        for i in ((waiting.get("output") or {}).get("__interrupt__") or [])
        if isinstance(i, dict)
    }
    unknown = sorted(set(answers) - asked)
    if unknown:
        raise CommandError("no_such_interrupt", f"No pending interrupt {unknown[0]!r}")
    value = {
        "thread_id": ctx.thread_id,
        "run_id": str(waiting["run_id"]),
        "metadata": {},
        "kwargs": {"command": command.model_dump(exclude_none=True)},
    }
    scope = await ctx.auth.authorize("threads", "create_run", value)
    if scope is not None:
        async with ctx.services.pool.connection() as conn:
            if await run_rows.get(conn, str(waiting["run_id"]), ctx.thread_id, scope=scope) is None:
                raise NotFound("Run not found")
    await resume_run(ctx.services, ctx.thread_id, str(waiting["run_id"]), command)
    return {}


_STATUS = {
    "pending": "started",
    "running": "running",
    "success": "completed",
    "error": "failed",
    "timeout": "failed",
    "interrupted": "interrupted",
}


async def _tree(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    scope = await ctx.auth.authorize("threads", "read", {"thread_id": ctx.thread_id})
    async with ctx.services.pool.connection() as conn:
        if isinstance(params.get("run_id"), str):
            run_id = check_uuid(params["run_id"], "run")
            row = await run_rows.get(conn, run_id, ctx.thread_id, scope=scope)
            rows = [row] if row is not None else []
        else:
            rows = await run_rows.list_for_thread(
                conn, ctx.thread_id, limit=1, offset=0, status=None, scope=scope
            )
    if not rows:
        raise CommandError("no_such_run", "This thread has no such run")
    row = rows[0]
    graph = row["kwargs"].get("config", {}).get("configurable", {}).get("graph_id", "root")
    return {
        "tree": {
            "namespace": [],
            "status": _STATUS.get(row["status"], "running"),
            "graph_name": graph,
        }
    }
