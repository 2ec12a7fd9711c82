"""Threads: CRUD, search, copy, prune, state (read, update) and history."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import uuid_utils
from fastapi import APIRouter, Header, Query, Response
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.types import StateUpdate
from pydantic import BaseModel
from temporalio.service import RPCError

from graphyard import schedules
from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.deps import Deps, ThreadId, check_uuid
from graphyard.api.models import Pruned, Thread, ThreadStorage, returns
from graphyard.api.pagination import check_select, page
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import (
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
    thread_json,
    ttl_setting,
)
from graphyard.errors import BadRequest, Conflict, NotFound
from graphyard.runs import secret_check
from graphyard.runs.backends import Services
from graphyard.runs.reconcile import reconciled_all
from graphyard.runs.thread_state import refresh_thread, thread_config, thread_graph
from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage import crons as cron_rows
from graphyard.storage import runs as run_rows
from graphyard.storage import thread_ttl
from graphyard.storage import threads as rows
from graphyard.storage.db import notify_channel
from graphyard.storage.filters import Scope
from graphyard.storage.rows import ThreadRow
from graphyard.storage.statuses import is_live
from graphyard.types import run_workflow_id

router = APIRouter(prefix="/threads", tags=["threads"], route_class=BodyRoute)

THREAD_FIELDS = frozenset(
    {"thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config"}
    | {"status", "values", "interrupts", "error"}
)


async def load_thread(services: Services, thread_id: str, scope: Scope = None) -> ThreadRow:
    """The thread row, or 404 ``Thread with ID <id> not found`` (also when ``scope``, the
    caller's auth filter, hides it)."""
    thread_id = check_uuid(thread_id, "thread")
    async with services.pool.connection() as conn:
        row = await rows.get(conn, thread_id, scope=scope)
    if row is None:
        raise NotFound(f"Thread with ID {thread_id} not found")
    return row


@router.post("", **returns(Thread))
async def create(body: ThreadCreate, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """Create a thread (a new id unless ``thread_id`` is given) with ``metadata``, an optional
    ``ttl`` and optional ``supersteps`` that seed its state. An id already taken is a 409 unless
    ``if_exists: "do_nothing"``, which answers the existing thread."""
    secret_check.check(services.settings, "thread", metadata=body.metadata)
    thread_id = check_uuid(body.thread_id, "thread") if body.thread_id else str(uuid_utils.uuid7())
    value: dict[str, Any] = {
        "thread_id": thread_id,
        "metadata": dict(body.metadata or {}),
        "if_exists": body.if_exists,
        "ttl": body.ttl.model_dump(exclude_none=True)
        if isinstance(body.ttl, BaseModel)
        else body.ttl,
    }
    scope = await auth.authorize("threads", "create", value)
    async with services.pool.connection() as conn:
        ttl = ttl_setting(body.ttl) or services.default_ttl
        row = await rows.create(conn, thread_id, value["metadata"] or {}, ttl)
        if row is None:
            if body.if_exists == "do_nothing":
                # Another caller's thread is no one to hand back: the id is taken.
                row = await rows.get(conn, thread_id, scope=scope)
                if row is None:
                    raise Conflict(f"Thread with ID {thread_id} already exists")
                return thread_json(row)
            raise Conflict(f"Thread with ID {thread_id} already exists")
    if body.supersteps:
        row = await _apply_supersteps(services, auth, row, body.supersteps)
    return thread_json(row)


async def _apply_supersteps(
    services: Services,
    auth: RequestAuth,
    thread: ThreadRow,
    supersteps: list[dict[str, Any]],
) -> ThreadRow:
    config = thread_config(thread)
    async with thread_graph(
        services, thread, config, auth.run_configurable(), "threads.update"
    ) as graph:
        if graph is None:
            raise BadRequest(
                f"Thread '{thread['thread_id']}' has no assigned graph ID; create it with "
                "metadata.graph_id to seed its state with supersteps."
            )
        updates = [
            [StateUpdate(u.get("values"), u.get("as_node")) for u in step.get("updates", [])]
            for step in supersteps
        ]
        await graph.abulk_update_state(config, updates)
        return await refresh_thread(services, thread, graph)


@router.post("/search", **returns(list[Thread]))
async def search(
    body: ThreadSearch, services: Deps, auth: AuthDep, response: Response
) -> list[dict[str, Any]]:
    """Threads matching ``ids``, ``metadata``, ``values`` and ``status``, sorted and paged by
    ``limit`` and ``offset``; ``select`` keeps only the fields it names. The
    ``X-Pagination-Total`` and ``X-Pagination-Next`` headers give the total and the next offset."""
    check_select(body.select, THREAD_FIELDS)
    ids = [check_uuid(i, "thread") for i in body.ids or []] or None
    scope = await auth.authorize("threads", "search", _search_value(body, ids))
    async with services.pool.connection() as conn:
        found, total = await rows.search(
            conn,
            ids=ids,
            metadata=body.metadata,
            values=body.values,
            status=body.status,
            limit=body.limit,
            offset=body.offset,
            sort_by=body.sort_by,
            sort_order=body.sort_order,
            scope=scope,
        )
    items = [thread_json(r) for r in found]
    return page(response, items, offset=body.offset, total=total, select=body.select)


def _search_value(body: ThreadSearch | ThreadCount, ids: list[str] | None) -> dict[str, Any]:
    return {
        "metadata": body.metadata,
        "values": body.values,
        "status": body.status,
        "limit": getattr(body, "limit", None),
        "offset": getattr(body, "offset", None),
        "ids": ids,
        "thread_id": None,
    }


@router.post("/count")
async def count(body: ThreadCount, services: Deps, auth: AuthDep) -> int:
    """How many threads match ``metadata``, ``values`` and ``status``, as a bare integer."""
    scope = await auth.authorize("threads", "search", _search_value(body, None))
    async with services.pool.connection() as conn:
        return await rows.count(
            conn, metadata=body.metadata, values=body.values, status=body.status, scope=scope
        )


@router.post("/prune", **returns(Pruned))
async def prune(body: ThreadPrune, services: Deps, auth: AuthDep) -> dict[str, int]:
    """Delete the listed threads (``strategy: "delete"``) or keep only their latest checkpoint
    (``"keep_latest"``), answering ``{"pruned_count": n}``. Threads that do not exist or the
    caller may not delete are skipped."""
    ids = [check_uuid(i, "thread") for i in body.thread_ids]
    pruned = 0
    for thread_id in ids:
        scope = await auth.authorize("threads", "delete", {"thread_id": thread_id})
        async with services.pool.connection() as conn:
            exists = await rows.get(conn, thread_id, scope=scope) is not None
        if not exists:
            continue
        if body.strategy == "delete":
            await _delete(services, thread_id, scope)
        else:
            await AsyncPostgresSaver(services.pool).aprune([thread_id], strategy="keep_latest")
        pruned += 1
    return {"pruned_count": pruned}


async def _reconciled_runs(services: Services, thread_id: str) -> bool:
    """Whether a live run of a busy thread turned out to have ended (see ``reconcile``)."""
    async with services.pool.connection() as conn:
        live = await run_rows.select_live(conn, thread_id=thread_id)
    checked = await reconciled_all(services, live)
    return any(not is_live(r) for r in checked)


@router.get("/{thread_id}", **returns(Thread))
async def get(
    thread_id: ThreadId,
    services: Deps,
    auth: AuthDep,
    include: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """The thread; ``include=ttl`` adds its TTL (strategy, minutes, expiry)."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    row = await load_thread(services, thread_id, scope)
    if row["status"] == "busy" and await _reconciled_runs(services, str(row["thread_id"])):
        row = await load_thread(services, thread_id, scope)
    out = thread_json(row)
    # The reference reads one comma-separated value; the SDK may repeat the parameter.
    if "ttl" in {part.strip() for value in include or [] for part in value.split(",")}:
        out["ttl"] = thread_ttl.ttl_json(row)
    return out


@router.patch("/{thread_id}", **returns(Thread))
async def patch(
    thread_id: ThreadId,
    body: ThreadPatch,
    services: Deps,
    auth: AuthDep,
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any] | Response:
    """Merge ``metadata`` into the thread's and set its ``ttl``. With the header
    ``Prefer: return=minimal`` the answer is 204 with no body."""
    secret_check.check(services.settings, "thread", metadata=body.metadata)
    value: dict[str, Any] = {"thread_id": thread_id, "metadata": dict(body.metadata or {})}
    scope = await auth.authorize("threads", "update", value)
    thread = await load_thread(services, thread_id, scope)
    ttl = ttl_setting(body.ttl)
    async with services.pool.connection() as conn, conn.transaction():
        tid = str(thread["thread_id"])
        row = await rows.merge_metadata(conn, tid, value["metadata"] or {}, scope=scope)
        if row is not None and ttl is not None:
            await thread_ttl.set_ttl(conn, tid, *ttl)
    if row is None:
        raise NotFound(f"Thread with ID {thread_id} not found")
    if prefer and "return=minimal" in prefer:
        return Response(status_code=204)
    return thread_json(row)


async def _delete(services: Services, thread_id: str, scope: Scope) -> None:
    async with services.pool.connection() as conn:
        live = await rows.live_run_ids(conn, thread_id, waiting=True)
        # Their steps in flight stop at once instead of finishing their nodes.
        await run_rows.request_cancel(conn, live, notify_channel(services.settings))
    for run_id in live:
        handle = services.temporal.get_workflow_handle(run_workflow_id(run_id))
        with contextlib.suppress(RPCError):  # already closed: nothing to cancel
            await handle.cancel()
    await AsyncPostgresSaver(services.pool).adelete_thread(thread_id)
    async with services.pool.connection() as conn:
        crons = await cron_rows.for_thread(conn, thread_id)
        await rows.delete(conn, thread_id, scope=scope)  # its crons' rows go with it
    for cron_id in crons:
        await schedules.delete(services.temporal, cron_id)


@router.delete("/{thread_id}", status_code=204)
async def delete(thread_id: ThreadId, services: Deps, auth: AuthDep) -> Response:
    """Delete the thread with its runs, checkpoints and crons; its runs in flight are cancelled
    first. 204, or 404 when it does not exist."""
    scope = await auth.authorize("threads", "delete", {"thread_id": thread_id})
    thread = await load_thread(services, thread_id, scope)
    await _delete(services, str(thread["thread_id"]), scope)
    return Response(status_code=204)


@router.get("/{thread_id}/storage", **returns(ThreadStorage))
async def storage(thread_id: ThreadId, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """Bytes the thread's checkpoints occupy, per table and per channel."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    thread = await load_thread(services, thread_id, scope)
    async with services.pool.connection() as conn:
        return await checkpoint_rows.storage(conn, str(thread["thread_id"]))


@router.post("/{thread_id}/copy", **returns(Thread))
async def copy(thread_id: ThreadId, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """A new thread with the source's metadata (its owner too), values and checkpoints."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    source = await load_thread(services, thread_id, scope)
    new_id = str(uuid_utils.uuid7())
    async with services.pool.connection() as conn, conn.transaction():
        row = await rows.copy(conn, str(source["thread_id"]), new_id, scope=scope)
        if row is None:
            raise NotFound(f"Thread with ID {thread_id} not found")
        await checkpoint_rows.copy_checkpoints(conn, str(source["thread_id"]), new_id)
    return thread_json(row)
