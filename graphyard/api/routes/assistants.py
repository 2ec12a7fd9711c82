"""Assistants: create, read, patch (versioned), delete, search and count, versions. The
graph's drawing and JSON schemas are in ``assistant_graphs``."""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Response
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from temporalio.service import RPCError

from graphyard import schedules
from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.deps import Deps, check_uuid
from graphyard.api.models import Assistant, AssistantVersion, returns
from graphyard.api.pagination import check_select, page
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import (
    ASSISTANT_FIELDS,
    AssistantCount,
    AssistantCreate,
    AssistantLatest,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionsSearch,
    assistant_json,
    assistant_version_json,
)
from graphyard.errors import Conflict, NotFound, Unprocessable
from graphyard.runs import secret_check
from graphyard.runs.backends import Services
from graphyard.storage import assistants as rows
from graphyard.storage import runs as run_rows
from graphyard.storage.db import notify_channel
from graphyard.storage.filters import Scope
from graphyard.storage.rows import AssistantRow
from graphyard.types import run_workflow_id

router = APIRouter(prefix="/assistants", tags=["assistants"], route_class=BodyRoute)
log = logging.getLogger(__name__)


def check_graph(services: Services, graph_id: str) -> None:
    if graph_id not in services.graphs:
        raise NotFound(
            f"Graph '{graph_id}' not found. Expected one of: {services.graphs.graph_ids}"
        )


def _check_secrets(services: Services, body: AssistantCreate | AssistantPatch) -> None:
    secret_check.check(
        services.settings,
        "assistant",
        config=body.config,
        context=body.context,
        metadata=body.metadata,
    )


async def _load(services: Services, assistant_id: str, scope: Scope = None) -> AssistantRow:
    async with services.pool.connection() as conn:
        row = await rows.get(conn, assistant_id, scope=scope)
    if row is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return row


async def readable(services: Services, auth: RequestAuth, assistant_id: str) -> AssistantRow:
    """The assistant, if ``assistants.read`` lets the caller see it (404 otherwise)."""
    value = {"assistant_id": assistant_id, "metadata": {}}
    return await _load(services, assistant_id, await auth.authorize("assistants", "read", value))


@router.post("", **returns(Assistant))
async def create(body: AssistantCreate, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """Create an assistant for a graph of ``langgraph.json`` (a new UUID unless ``assistant_id``
    is given). An unknown ``graph_id`` is a 404; an id already taken is a 409 unless
    ``if_exists: "do_nothing"``, which answers the existing assistant."""
    if body.assistant_id:
        assistant_id = check_uuid(body.assistant_id, "assistant")
    else:
        assistant_id = str(uuid.uuid4())
    check_graph(services, body.graph_id)
    _check_secrets(services, body)
    value: dict[str, Any] = {
        "assistant_id": assistant_id,
        "graph_id": body.graph_id,
        "config": body.config or {},
        "context": body.context or {},
        "metadata": dict(body.metadata or {}),
        "if_exists": body.if_exists,
        "name": body.name or "Untitled",
    }
    scope = await auth.authorize("assistants", "create", value)
    async with services.pool.connection() as conn:
        row = await rows.create(
            conn,
            assistant_id=assistant_id,
            graph_id=body.graph_id,
            config=body.config or {},
            context=body.context or {},
            metadata=value["metadata"],
            name=body.name or "Untitled",
            description=body.description,
        )
        if row is None:
            if body.if_exists != "do_nothing":
                raise Conflict(f"Assistant {assistant_id} already exists")
            row = await rows.get(conn, assistant_id, scope=scope)
            if row is None:  # deleted in between, or another caller's
                raise Conflict(f"Assistant {assistant_id} already exists")
    return assistant_json(row)


@router.post("/search", **returns(list[Assistant]))
async def search(
    body: AssistantSearch, services: Deps, auth: AuthDep, response: Response
) -> list[dict[str, Any]]:
    """Assistants matching ``graph_id``, ``metadata`` and ``name``, sorted and paged by ``limit``
    and ``offset``; ``select`` keeps only the fields it names. The ``X-Pagination-Total`` and
    ``X-Pagination-Next`` headers give the total and the next offset."""
    check_select(body.select, ASSISTANT_FIELDS)
    value = {
        "graph_id": body.graph_id,
        "metadata": body.metadata,
        "limit": body.limit,
        "offset": body.offset,
    }
    scope = await auth.authorize("assistants", "search", value)
    async with services.pool.connection() as conn:
        found, total = await rows.search(
            conn,
            graph_id=body.graph_id,
            metadata=body.metadata,
            name=body.name,
            limit=body.limit,
            offset=body.offset,
            sort_by=body.sort_by,
            sort_order=body.sort_order,
            scope=scope,
        )
    items = [assistant_json(r) for r in found]
    return page(response, items, offset=body.offset, total=total, select=body.select)


@router.post("/count")
async def count(body: AssistantCount, services: Deps, auth: AuthDep) -> int:
    """How many assistants match ``graph_id``, ``metadata`` and ``name``, as a bare integer."""
    value = {"graph_id": body.graph_id, "metadata": body.metadata, "limit": 0, "offset": 0}
    scope = await auth.authorize("assistants", "search", value)
    async with services.pool.connection() as conn:
        return await rows.count(
            conn, graph_id=body.graph_id, metadata=body.metadata, name=body.name, scope=scope
        )


@router.get("/{assistant_id}", **returns(Assistant))
async def get(assistant_id: str, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """The assistant by its UUID (a graph name is a 422 here). 404 when it does not exist or the
    caller may not read it."""
    return assistant_json(await readable(services, auth, check_uuid(assistant_id, "assistant")))


@router.patch("/{assistant_id}", **returns(Assistant))
async def patch(
    assistant_id: str, body: AssistantPatch, services: Deps, auth: AuthDep
) -> dict[str, Any]:
    """Change an assistant: the result is a new version, made the latest. ``metadata`` merges
    into the current metadata, other fields replace theirs; a ``graph_id`` not in
    ``langgraph.json`` is a 404."""
    assistant_id = check_uuid(assistant_id, "assistant")
    if body.graph_id is not None:
        check_graph(services, body.graph_id)
    _check_secrets(services, body)
    changes = {f: getattr(body, f) for f in rows.FIELDS if getattr(body, f) is not None}
    value = {"assistant_id": assistant_id, **changes, "metadata": dict(body.metadata or {})}
    scope = await auth.authorize("assistants", "update", value)
    if body.metadata is not None or value["metadata"]:
        changes["metadata"] = value["metadata"]
    async with services.pool.connection() as conn:
        row = await rows.patch(conn, assistant_id, changes, scope=scope)
    if row is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return assistant_json(row)


@router.delete("/{assistant_id}", status_code=204)
async def delete(
    assistant_id: str, services: Deps, auth: AuthDep, delete_threads: bool = False
) -> Response:
    """Delete an assistant with its versions, runs and crons (its runs in flight stop); 204, or
    404 when it does not exist. With ``delete_threads=true``, the threads whose
    ``metadata.assistant_id`` it is go too (those the caller may delete)."""
    assistant_id = check_uuid(assistant_id, "assistant")
    scope = await auth.authorize("assistants", "delete", {"assistant_id": assistant_id})
    # Its threads go only where the caller could delete them one by one.
    thread_scope = (
        await auth.authorize("threads", "delete", {"thread_id": None}) if delete_threads else None
    )
    async with services.pool.connection() as conn:
        deleted = await rows.delete(
            conn,
            assistant_id,
            delete_threads=delete_threads,
            scope=scope,
            thread_scope=thread_scope,
        )
    if deleted is None:
        raise NotFound(f"Assistant with ID {assistant_id} not found")
    async with services.pool.connection() as conn:
        # Their steps in flight stop at once (a deleted run's step does not finish).
        await run_rows.request_cancel(conn, deleted.live_run_ids, notify_channel(services.settings))
    for run_id in deleted.live_run_ids:
        with contextlib.suppress(RPCError):  # already closed: nothing to cancel
            await services.temporal.get_workflow_handle(run_workflow_id(run_id)).cancel()
    saver = AsyncPostgresSaver(services.pool)
    for thread_id in deleted.thread_ids:
        await saver.adelete_thread(thread_id)
    for cron_id in deleted.cron_ids:
        await schedules.delete(services.temporal, cron_id)
    return Response(status_code=204)


@router.post("/{assistant_id}/versions", **returns(list[AssistantVersion]))
async def versions(
    assistant_id: str, services: Deps, auth: AuthDep, body: AssistantVersionsSearch | None = None
) -> list[dict[str, Any]]:
    """The assistant's versions, newest first, filtered by ``metadata`` and paged by ``limit``
    and ``offset``; 404 when there are none."""
    assistant_id = check_uuid(assistant_id, "assistant")
    body = body or AssistantVersionsSearch()
    value = {"assistant_id": assistant_id, "metadata": body.metadata}
    scope = await auth.authorize("assistants", "read", value)
    async with services.pool.connection() as conn:
        found = await rows.versions(
            conn,
            assistant_id,
            metadata=body.metadata,
            limit=body.limit,
            offset=body.offset,
            scope=scope,
        )
    if not found:
        raise NotFound(f"Assistant {assistant_id} not found")
    return [assistant_version_json(r) for r in found]


@router.post("/{assistant_id}/latest", **returns(Assistant))
async def set_latest(
    assistant_id: str,
    services: Deps,
    auth: AuthDep,
    body: AssistantLatest | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The version comes in the JSON body (what the SDK sends) or, per the OpenAPI spec, in
    the query string."""
    assistant_id = check_uuid(assistant_id, "assistant")
    wanted = body.version if body is not None and body.version is not None else version
    if wanted is None:
        raise Unprocessable("version: Field required")
    value = {"assistant_id": assistant_id, "version": wanted, "metadata": {}}
    scope = await auth.authorize("assistants", "update", value)
    async with services.pool.connection() as conn:
        row = await rows.set_latest(conn, assistant_id, wanted, scope=scope)
        if row is None and await rows.get(conn, assistant_id, scope=scope) is not None:
            raise NotFound(f"Assistant {assistant_id} has no version {wanted}")
    if row is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return assistant_json(row)
