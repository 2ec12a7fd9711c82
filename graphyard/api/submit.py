"""Creating a run: validate, write its row (Postgres owns the kwargs), start its workflow."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

import uuid_utils
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from graphyard.api.deps import Services
from graphyard.api.schemas import RunCreate
from graphyard.errors import BadRequest, Conflict, NotFound, Unavailable, Unprocessable
from graphyard.graphs import default_assistant_id
from graphyard.storage import assistants as assistant_rows
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.assistants import Conn
from graphyard.storage.db import notify_channel
from graphyard.temporal import step_policy
from graphyard.types import (
    CANCEL_SIGNAL,
    RUN_WORKFLOW,
    CancelAction,
    CancelInput,
    RunInput,
    RunRef,
    run_workflow_id,
)

Row = dict[str, Any]

# Keys the server owns: silently dropped from client metadata and configurable (as the reference).
RESERVED_METADATA = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)
RESERVED_CONFIGURABLE_PREFIXES = ("langgraph_auth_user", "__")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("0d3c8f6e-2f4a-4d0e-9a51-6b7a1c2e9f10")


def run_id_for(scope: str, idempotency_key: str | None) -> str:
    """A new UUIDv7, or the same id for every retry carrying the same ``Idempotency-Key``."""
    if idempotency_key:
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{scope}:{idempotency_key}"))
    return str(uuid_utils.uuid7())


async def resolve_assistant(conn: Conn, services: Services, assistant_id: str) -> Row:
    """An assistant UUID, or a graph id standing for its system assistant."""
    try:
        key = str(uuid.UUID(assistant_id))
    except ValueError:
        if assistant_id not in services.graphs:
            graphs = "\n".join(f"  - {g}" for g in services.graphs.graph_ids)
            raise Unprocessable(
                f"Invalid assistant: '{assistant_id}'. Must be either:\n"
                f"- A valid assistant UUID, or\n- One of the registered graphs:\n{graphs}"
            ) from None
        key = default_assistant_id(assistant_id)
    row = await assistant_rows.get(conn, key)
    if row is None:
        raise NotFound("Thread or assistant not found.")
    return row


def _merged_config(
    assistant: Row, thread: Row, body: RunCreate, ids: dict[str, str]
) -> dict[str, Any]:
    request = dict(body.config or {})
    configurable = {
        k: v
        for k, v in (request.pop("configurable", None) or {}).items()
        if not k.startswith(RESERVED_CONFIGURABLE_PREFIXES)
    }
    config: dict[str, Any] = {**assistant["config"], **request}
    config["configurable"] = {
        **(assistant["config"].get("configurable") or {}),
        **(thread["config"].get("configurable") or {}),
        **configurable,
        **ids,
    }
    config["metadata"] = {
        **assistant["metadata"],
        **thread["metadata"],
        **(request.get("metadata") or {}),
        **_client_metadata(body),
        "assistant_id": ids["assistant_id"],
        "graph_id": ids["graph_id"],
    }
    return config


def _client_metadata(body: RunCreate) -> dict[str, Any]:
    return {k: v for k, v in (body.metadata or {}).items() if k not in RESERVED_METADATA}


def _stream_modes(body: RunCreate) -> list[str]:
    if body.stream_mode is None:
        return ["values"]
    return [body.stream_mode] if isinstance(body.stream_mode, str) else list(body.stream_mode)


async def create_run(
    services: Services,
    body: RunCreate,
    *,
    thread_id: str | None,
    idempotency_key: str | None,
) -> Row:
    """Create (or, for a repeated idempotency key, find) a run and start its workflow."""
    if (body.config or {}).get("configurable") and body.context:
        raise BadRequest(
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement "
            "for configurable."
        )
    stateless = thread_id is None
    if stateless and body.command is not None and body.command.resume is not None:
        raise BadRequest("You must provide a thread_id when resuming.")
    run_id = run_id_for(thread_id or "stateless", idempotency_key)
    interrupted: list[str] = []
    strategy = body.multitask_strategy or "enqueue"
    async with services.pool.connection() as conn, conn.transaction():
        # Only an idempotency key can name a run that exists already.
        existing = await run_rows.get(conn, run_id) if idempotency_key else None
        if existing is not None:
            row, created = existing, False
        else:
            assistant = await resolve_assistant(conn, services, body.assistant_id)
            graph_id = assistant["graph_id"]
            thread_id = thread_id or str(uuid_utils.uuid7())
            thread = await thread_rows.get(conn, thread_id, for_update=True)
            if thread is None:
                if not stateless and body.if_not_exists != "create":
                    raise NotFound("Thread or assistant not found.")
                thread = await thread_rows.create(
                    conn,
                    thread_id,
                    {"graph_id": graph_id, "assistant_id": str(assistant["assistant_id"])},
                    None if stateless else services.default_ttl,
                )
                assert thread is not None
            live = await thread_rows.live_run_ids(conn, thread_id)
            if live and strategy == "reject" and not stateless:
                raise Conflict(
                    "Thread is already running a task. Wait for it to finish or choose a "
                    "different multitask strategy."
                )
            ids = {
                "run_id": run_id,
                "thread_id": thread_id,
                "graph_id": graph_id,
                "assistant_id": str(assistant["assistant_id"]),
            }
            kwargs = {
                "input": body.input,
                "command": body.command.model_dump(exclude_none=True) if body.command else None,
                "config": _merged_config(assistant, thread, body, ids),
                "context": {**assistant["context"], **(body.context or {})},
                "stream_mode": _stream_modes(body),
                "interrupt_before": body.interrupt_before,
                "interrupt_after": body.interrupt_after,
                "webhook": body.webhook,
                "feedback_keys": body.feedback_keys,
                "temporary": stateless and body.on_completion != "keep",
                "subgraphs": body.stream_subgraphs,
                "resumable": body.stream_resumable,
                "checkpoint": body.checkpoint
                or ({"checkpoint_id": body.checkpoint_id} if body.checkpoint_id else None),
                "durability": body.durability
                or ("exit" if body.checkpoint_during is False else "async"),
                "checkpoint_during": body.checkpoint_during is not False,
                "after_seconds": body.after_seconds,
                "after_run_id": live[-1] if live else None,
            }
            row, created = await run_rows.insert(
                conn,
                run_id=run_id,
                thread_id=thread_id,
                assistant_id=ids["assistant_id"],
                metadata=_client_metadata(body),
                kwargs=kwargs,
                multitask_strategy=None if stateless else strategy,
            )
            if created:
                await thread_rows.mark_busy(
                    conn, thread_id, {"graph_id": graph_id, "assistant_id": ids["assistant_id"]}
                )
                # Every stream of the run opens with this (later attempts announce themselves).
                await event_log.append(
                    conn,
                    notify_channel(services.settings),
                    run_id=run_id,
                    thread_id=thread_id,
                    events=[event_log.event("metadata", {"run_id": run_id, "attempt": 1})],
                )
            if created and live and strategy in ("interrupt", "rollback"):
                interrupted = live
    for previous in interrupted:
        await cancel_run(services, previous, "rollback" if strategy == "rollback" else "interrupt")
    graph_id = row["kwargs"]["config"]["configurable"]["graph_id"]
    ref = RunRef(
        run_id=str(row["run_id"]),
        thread_id=str(row["thread_id"]),
        assistant_id=str(row["assistant_id"]),
        graph_id=graph_id,
        after_run_id=row["kwargs"].get("after_run_id"),
    )
    await _start(services, ref, row["kwargs"].get("after_seconds"), created=created)
    return row


async def _start(
    services: Services, ref: RunRef, after_seconds: float | None, *, created: bool
) -> None:
    settings = services.settings
    try:
        await services.temporal.start_workflow(
            RUN_WORKFLOW,
            RunInput(run=ref, policy=step_policy(settings)),
            id=run_workflow_id(ref.run_id),
            task_queue=settings.task_queue,
            # Same run_id, same workflow: a repeated submission never executes twice.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_delay=timedelta(seconds=after_seconds) if after_seconds else None,
            # A worker that dies mid-task is noticed after this long (local steps run inside
            # the workflow task).
            task_timeout=settings.workflow_task_timeout,
            static_summary=f"graph {ref.graph_id} · thread {ref.thread_id}",
        )
    except WorkflowAlreadyStartedError:
        pass  # it ran (and closed) already
    except RPCError as exc:
        if created:
            async with services.pool.connection() as conn, conn.transaction():
                await run_rows.delete(conn, ref.run_id)
                await thread_rows.release_busy(conn, ref.thread_id)
        raise Unavailable(f"could not start the run on Temporal: {exc.message}") from exc


# Cancels started for clients that went away; kept referenced until they finish.
_BACKGROUND_CANCELS: set[asyncio.Task[None]] = set()


def cancel_in_background(services: Services, run_id: str) -> None:
    """``on_disconnect=cancel``: stop the run, off the request that is going away."""
    task = asyncio.create_task(cancel_run(services, run_id, "interrupt"))
    _BACKGROUND_CANCELS.add(task)
    task.add_done_callback(_BACKGROUND_CANCELS.discard)


async def cancel_run(services: Services, run_id: str, action: CancelAction) -> None:
    """Ask a run's workflow to stop (a no-op for a run that has closed meanwhile)."""
    handle = services.temporal.get_workflow_handle(run_workflow_id(run_id))
    with contextlib.suppress(RPCError):
        await handle.signal(CANCEL_SIGNAL, CancelInput(action=action))
