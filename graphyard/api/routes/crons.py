"""Crons: each one a Temporal Schedule whose firings create ordinary runs."""

from __future__ import annotations

from typing import Annotated, Any

import uuid_utils
from fastapi import APIRouter, Body, Response
from temporalio.service import RPCError, RPCStatusCode

from graphyard import schedules
from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.cron_schemas import (
    CRON_FIELDS,
    CronCount,
    CronCreate,
    CronPatch,
    CronSearch,
    cron_json,
)
from graphyard.api.deps import Deps, ThreadId, check_uuid
from graphyard.api.models import Cron, returns
from graphyard.api.pagination import check_select, page
from graphyard.api.routes.threads import load_thread
from graphyard.api.routing import BodyRoute
from graphyard.errors import BadRequest, NotFound, Unavailable, Unprocessable
from graphyard.runs import rules, secret_check
from graphyard.runs.backends import Services
from graphyard.runs.submit import resolve_assistant
from graphyard.storage import crons as cron_rows

router = APIRouter(tags=["crons"], route_class=BodyRoute)

# Fields of a cron's payload (what its runs are) a patch may change.
_PAYLOAD_FIELDS = (
    "input",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
)


def _temporal_error(exc: RPCError, schedule: str) -> Exception:
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return Unprocessable(f"Invalid schedule {schedule!r}: {exc.message}")
    return Unavailable(f"could not reach Temporal: {exc.message}")


def _check_secrets(services: Services, body: CronCreate | CronPatch) -> None:
    secret_check.check(
        services.settings, "cron", config=body.config, context=body.context, metadata=body.metadata
    )


async def _create(
    services: Services, auth: RequestAuth, body: CronCreate, thread_id: str | None
) -> dict[str, Any]:
    _check_secrets(services, body)
    rules.check_webhook(body.webhook, services.graphs.config.project)
    cron_id = str(uuid_utils.uuid7())
    fields = body.model_dump(exclude_none=True, exclude={"end_time", "timezone", "enabled"})
    value: dict[str, Any] = {
        "payload": fields,
        "schedule": body.schedule,
        "cron_id": cron_id,
        "thread_id": thread_id,
        "user_id": auth.user.identity if auth.user else None,
        "end_time": body.end_time,
        "metadata": dict(body.metadata or {}),
    }
    await auth.authorize("crons", "create", value)
    # Its runs are the caller's: they carry its metadata (an owner stamp), so the threads
    # they make are the caller's too, and its user reaches their graph.
    fields["metadata"] = {**(fields.get("metadata") or {}), **value["metadata"]}
    assistant_scope = await auth.authorize(
        "assistants", "read", {"assistant_id": body.assistant_id, "metadata": {}}
    )
    async with services.pool.connection() as conn, conn.transaction():
        assistant = await resolve_assistant(conn, services, body.assistant_id, assistant_scope)
        config = dict(body.config or {})
        config["configurable"] = {**(config.get("configurable") or {}), "cron_id": cron_id}
        row = await cron_rows.insert(
            conn,
            {
                "cron_id": cron_id,
                "assistant_id": str(assistant["assistant_id"]),
                "thread_id": thread_id,
                "schedule": body.schedule,
                "timezone": body.timezone,
                "end_time": body.end_time,
                "payload": {
                    **fields,
                    "assistant_id": str(assistant["assistant_id"]),
                    "config": config,
                    "caller": auth.run_configurable(),
                },
                "metadata": value["metadata"],
                # Thread crons keep their thread; stateless ones delete each run's by default.
                "on_run_completed": None if thread_id else (body.on_run_completed or "delete"),
                "enabled": body.enabled is not False,
            },
        )
        try:
            when = await schedules.create(services.temporal, services.settings, row)
        except RPCError as exc:
            raise _temporal_error(exc, body.schedule) from exc
        try:
            await cron_rows.set_next_run(conn, cron_id, when)
        except BaseException:
            await schedules.delete(services.temporal, cron_id)
            raise
        row["next_run_date"] = when
    return cron_json(row)


@router.post("/runs/crons", **returns(Cron))
async def create(body: CronCreate, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """A cron whose every run gets a new thread (deleted after it unless
    ``on_run_completed: "keep"``)."""
    return await _create(services, auth, body, None)


@router.post("/threads/{thread_id}/runs/crons", **returns(Cron))
async def create_for_thread(
    thread_id: ThreadId, body: CronCreate, services: Deps, auth: AuthDep
) -> dict[str, Any]:
    """A cron whose runs all go to one thread, meeting runs in flight by its
    ``multitask_strategy``. The thread must be one the caller may read."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    thread = await load_thread(services, thread_id, scope)
    return await _create(services, auth, body, str(thread["thread_id"]))


def _search_value(body: CronSearch | CronCount) -> dict[str, Any]:
    return {
        "assistant_id": body.assistant_id,
        "thread_id": body.thread_id,
        "limit": getattr(body, "limit", None),
        "offset": getattr(body, "offset", None),
        "metadata": body.metadata,
    }


@router.post("/runs/crons/search", **returns(list[Cron]))
async def search(
    body: CronSearch, services: Deps, auth: AuthDep, response: Response
) -> list[dict[str, Any]]:
    """Crons matching ``assistant_id``, ``thread_id``, ``enabled`` and ``metadata``, sorted and
    paged by ``limit`` and ``offset``; ``select`` keeps only the fields it names. The
    ``X-Pagination-Total`` and ``X-Pagination-Next`` headers give the total and the next offset."""
    check_select(body.select, CRON_FIELDS)
    scope = await auth.authorize("crons", "search", _search_value(body))
    async with services.pool.connection() as conn:
        found, total = await cron_rows.search(
            conn,
            assistant_id=_uuid_or_none(body.assistant_id, "assistant"),
            thread_id=_uuid_or_none(body.thread_id, "thread"),
            enabled=body.enabled,
            metadata=body.metadata,
            limit=body.limit,
            offset=body.offset,
            sort_by=body.sort_by,
            sort_order=body.sort_order,
            scope=scope,
        )
    items = [cron_json(r) for r in found]
    return page(response, items, offset=body.offset, total=total, select=body.select)


@router.post("/runs/crons/count", response_model=int)
async def count(body: CronCount, services: Deps, auth: AuthDep) -> int:
    """How many crons match ``assistant_id``, ``thread_id`` and ``metadata``, as a bare integer."""
    scope = await auth.authorize("crons", "search", _search_value(body))
    async with services.pool.connection() as conn:
        return await cron_rows.count(
            conn,
            assistant_id=_uuid_or_none(body.assistant_id, "assistant"),
            thread_id=_uuid_or_none(body.thread_id, "thread"),
            metadata=body.metadata,
            scope=scope,
        )


@router.get("/runs/crons/{cron_id}", **returns(Cron))
async def get(cron_id: str, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """The cron, with its next run date; 404 when it does not exist or the caller may not read
    it."""
    cron_id = check_uuid(cron_id, "cron")
    scope = await auth.authorize("crons", "read", {"cron_id": cron_id})
    async with services.pool.connection() as conn:
        row = await cron_rows.get(conn, cron_id, scope=scope)
    if row is None:
        raise NotFound("Not Found")
    return cron_json(row)


@router.patch("/runs/crons/{cron_id}", **returns(Cron))
async def update(
    cron_id: str,
    services: Deps,
    auth: AuthDep,
    body: Annotated[CronPatch | None, Body()] = None,
) -> dict[str, Any]:
    """Change a cron (``metadata`` merges; ``end_time: null`` clears the end time); its
    schedule follows."""
    cron_id = check_uuid(cron_id, "cron")
    given = body.model_fields_set if body is not None else set()
    if body is None or not given:
        raise BadRequest("Request body cannot be empty")
    _check_secrets(services, body)
    rules.check_webhook(body.webhook, services.graphs.config.project)
    value: dict[str, Any] = {
        "cron_id": cron_id,
        "payload": body.model_dump(exclude_unset=True, exclude={"metadata"}),
        "schedule": body.schedule,
        "metadata": dict(body.metadata or {}),
    }
    scope = await auth.authorize("crons", "update", value)
    async with services.pool.connection() as conn, conn.transaction():
        row = await cron_rows.get(conn, cron_id, for_update=True, scope=scope)
        if row is None:
            raise NotFound("Not Found")
        changes: dict[str, Any] = {
            k: getattr(body, k)
            for k in ("schedule", "timezone", "end_time", "enabled")
            if k in given and (getattr(body, k) is not None or k in ("end_time", "timezone"))
        }
        payload = dict(row["payload"])
        payload.update({k: getattr(body, k) for k in _PAYLOAD_FIELDS if k in given})
        if "config" in given:
            config = dict(body.config or {})
            config["configurable"] = {**(config.get("configurable") or {}), "cron_id": cron_id}
            payload["config"] = config
        if row["thread_id"] is None and body.on_run_completed is not None:
            changes["on_run_completed"] = body.on_run_completed
        if value["metadata"]:
            changes["metadata"] = {**row["metadata"], **value["metadata"]}
        updated = await cron_rows.update(
            conn, cron_id, {**changes, "payload": payload}, scope=scope
        )
        assert updated is not None
        try:
            when = await schedules.replace(services.temporal, services.settings, updated)
        except RPCError as exc:
            raise _temporal_error(exc, updated["schedule"]) from exc
        await cron_rows.set_next_run(conn, cron_id, when)
        updated["next_run_date"] = when
    return cron_json(updated)


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete(cron_id: str, services: Deps, auth: AuthDep) -> Response:
    """Delete the cron and its Temporal Schedule, so it starts no more runs. 204, or 404 when it
    does not exist."""
    cron_id = check_uuid(cron_id, "cron")
    scope = await auth.authorize("crons", "delete", {"cron_id": cron_id})
    async with services.pool.connection() as conn, conn.transaction():
        if not await cron_rows.delete(conn, cron_id, scope=scope):
            raise NotFound("Not Found")
        await schedules.delete(services.temporal, cron_id)
    return Response(status_code=204)


def _uuid_or_none(value: str | None, what: str) -> str | None:
    return check_uuid(value, what) if value is not None else None
