"""Creating a run: validate, write its row (Postgres owns the kwargs), start its workflow
(``run_start``)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

import uuid_utils

from graphyard.errors import BadRequest, Conflict, NotFound, Unprocessable
from graphyard.graphs import default_assistant_id
from graphyard.runs import resume, rules, secret_check
from graphyard.runs.backends import Backends
from graphyard.runs.caller import ANONYMOUS, Caller
from graphyard.runs.cancel import cancel_run
from graphyard.runs.kwargs import RunKwargs
from graphyard.runs.request import RunCreate
from graphyard.runs.resume import Submitted
from graphyard.runs.start import start
from graphyard.runs.thread_state import require_checkpoint
from graphyard.storage import assistants as assistant_rows
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.db import notify_channel
from graphyard.storage.filters import Scope
from graphyard.storage.rows import AssistantRow, Conn, RunRow
from graphyard.telemetry import metrics

_IDEMPOTENCY_NAMESPACE = uuid.UUID("0d3c8f6e-2f4a-4d0e-9a51-6b7a1c2e9f10")


def run_id_for(scope: str, idempotency_key: str | None) -> str:
    """A new UUIDv7, or the same id for every retry carrying the same ``Idempotency-Key``."""
    if idempotency_key:
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{scope}:{idempotency_key}"))
    return str(uuid_utils.uuid7())


async def resolve_assistant(
    conn: Conn, services: Backends, assistant_id: str, scope: Scope = None
) -> AssistantRow:
    """An assistant UUID, or a graph id standing for its system assistant (404 if ``scope``,
    the caller's auth filter, hides it)."""
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
    row = await assistant_rows.get(conn, key, scope=scope)
    if row is None:
        raise NotFound("Thread or assistant not found.")
    return row


def check_secrets(services: Backends, body: RunCreate) -> None:
    """422 for a run request carrying secret-looking config, context or metadata."""
    secret_check.check(
        services.settings, "run", config=body.config, context=body.context, metadata=body.metadata
    )


async def create_run(
    services: Backends,
    body: RunCreate,
    *,
    thread_id: str | None,
    idempotency_key: str | None,
    caller: Caller = ANONYMOUS,
    headers: dict[str, str] | None = None,
) -> Submitted:
    """Create (or, for a repeated idempotency key, find) a run and start its workflow; or,
    when the thread has a run waiting at an interrupt and the body answers it, resume that.
    ``caller``: what auth decided (``graphyard.api.auth.admit_run``); ``headers``: the
    request headers ``http.configurable_headers`` copies into its configurable."""
    check_secrets(services, body)
    if (body.config or {}).get("configurable") and body.context:
        raise BadRequest(
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement "
            "for configurable."
        )
    stateless = thread_id is None
    if stateless and body.command is not None and body.command.resume is not None:
        raise BadRequest("You must provide a thread_id when resuming.")
    rules.check_webhook(body.webhook, services.graphs.config.project)
    rules.checkpoint(body)
    if thread_id is not None and caller.thread_scope is not None:
        await _check_visible(services, thread_id, caller.thread_scope)
    if thread_id is not None and idempotency_key is None and resume.answers(body):
        resumed = await resume.answer_waiting_run(services, thread_id, body)
        if resumed is not None:
            return resumed
    key_scope = thread_id or "stateless"
    run_id = run_id_for(
        f"{key_scope}:{caller.identity}" if caller.identity else key_scope, idempotency_key
    )
    fingerprint = _fingerprint(thread_id, body) if idempotency_key else None
    async with services.pool.connection() as conn, conn.transaction():
        created = await _insert(
            conn, services, body, run_id, thread_id, fingerprint, caller, headers or {}
        )
    row = created.row
    kwargs = RunKwargs.of(row)
    if fingerprint is not None and kwargs.request_hash != fingerprint:
        raise Conflict("Idempotency-Key was already used for a different request")
    for previous in created.superseded:
        await cancel_run(services, previous, "interrupt", thread_id=str(row["thread_id"]))
    await start(services, row, created=created.created)
    if created.created:
        metrics.RUNS_CREATED.labels(kwargs.graph_id).inc()
    return Submitted(row)


async def _check_visible(services: Backends, thread_id: str, scope: Scope) -> None:
    """404 for a thread that exists but the caller's filter hides (before anything answers
    the run waiting on it)."""
    async with services.pool.connection() as conn:
        exists = await thread_rows.get(conn, thread_id) is not None
        if exists and await thread_rows.get(conn, thread_id, scope=scope) is None:
            raise NotFound("Thread or assistant not found.")


@dataclass(frozen=True)
class _Inserted:
    row: RunRow
    created: bool  # False: an earlier request with the same Idempotency-Key made it
    superseded: list[str] = field(default_factory=list)  # runs waiting at an interrupt


def _fingerprint(thread_id: str | None, body: RunCreate) -> str:
    request = {"thread_id": thread_id, **body.model_dump(mode="json", exclude_none=True)}
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def _insert(
    conn: Conn,
    services: Backends,
    body: RunCreate,
    run_id: str,
    thread_id: str | None,
    fingerprint: str | None,
    caller: Caller,
    headers: dict[str, str],
) -> _Inserted:
    """Write a new run's row under its thread's lock, deciding how it meets the thread's
    runs in flight; or find the run an earlier request with the same key created."""
    stateless = thread_id is None
    strategy = body.multitask_strategy or "enqueue"
    # Only an idempotency key can name a run that exists already.
    existing = await run_rows.get(conn, run_id, scope=caller.thread_scope) if fingerprint else None
    if existing is not None:
        return _Inserted(existing, created=False)
    assistant = await resolve_assistant(conn, services, body.assistant_id, caller.assistant_scope)
    graph_id = assistant["graph_id"]
    thread_id = thread_id or str(uuid_utils.uuid7())
    thread = await thread_rows.get(conn, thread_id, for_update=True, scope=caller.thread_scope)
    if thread is None:
        if not stateless and body.if_not_exists != "create":
            raise NotFound("Thread or assistant not found.")
        # The run's metadata (an auth handler's owner stamp included) marks the thread it
        # makes, so whoever may see the run may see its thread.
        thread = await thread_rows.create(
            conn,
            thread_id,
            {
                **rules.client_metadata(body),
                "graph_id": graph_id,
                "assistant_id": str(assistant["assistant_id"]),
            },
            None if stateless else services.default_ttl,
        )
        if thread is None:  # it exists, but the caller's filter hides it
            raise NotFound("Thread or assistant not found.")
    elif fingerprint and (twin := await run_rows.get(conn, run_id)) is not None:
        return _Inserted(twin, created=False)  # made while this request waited for the lock
    checkpoint = rules.checkpoint(body)
    await require_checkpoint(conn, thread_id, checkpoint)
    live, waiting = await thread_rows.runs_in_flight(conn, thread_id)
    if live and strategy == "reject" and not stateless:
        raise Conflict(
            "Thread is already running a task. Wait for it to finish or choose a "
            "different multitask strategy."
        )
    if live and strategy in ("interrupt", "rollback") and not stateless:
        # The thread's workflow stops them; their steps in flight must know it is meant.
        await run_rows.request_cancel(conn, live, notify_channel(services.settings))
    ids = {
        "run_id": run_id,
        "thread_id": thread_id,
        "graph_id": graph_id,
        "assistant_id": str(assistant["assistant_id"]),
    }
    kwargs = RunKwargs(
        input=body.input,
        command=body.command.model_dump(exclude_none=True) if body.command else None,
        config=rules.merged_config(assistant, thread, body, ids, caller.configurable, headers),
        context={**assistant["context"], **(body.context or {})},
        stream_mode=rules.stream_modes(body),
        interrupt_before=body.interrupt_before,
        interrupt_after=body.interrupt_after,
        webhook=body.webhook,
        feedback_keys=body.feedback_keys,
        temporary=stateless and body.on_completion != "keep",
        subgraphs=body.stream_subgraphs,
        resumable=body.stream_resumable,
        checkpoint=checkpoint,
        durability=body.durability or ("exit" if body.checkpoint_during is False else "async"),
        checkpoint_during=body.checkpoint_during is not False,
        after_seconds=body.after_seconds,
        # What the thread had in flight when this run arrived: it starts after them, through
        # the thread's workflow (a superseded waiting run is cancelled below).
        in_flight=live + waiting,
        request_hash=fingerprint,
    )
    rules.interrupt_timeout(kwargs.configurable.get(rules.INTERRUPT_TIMEOUT_KEY))
    row, created = await run_rows.insert(
        conn,
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=ids["assistant_id"],
        metadata=rules.client_metadata(body),
        kwargs=kwargs.as_json(),
        multitask_strategy=None if stateless else strategy,
    )
    if not created:
        # A stateless twin with the same key won the race: this request's thread goes.
        if stateless:
            await thread_rows.delete_row(conn, thread_id)
        return _Inserted(row, created=False)
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
    # A run waiting at an interrupt that gets new input instead of an answer is over (as the
    # reference's would be): it stops, keeping what it checkpointed.
    return _Inserted(row, created=True, superseded=waiting)
