"""Thread state: read (latest, at a checkpoint, with subgraphs), update, and history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from langgraph.errors import InvalidUpdateError

from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.deps import Deps, ThreadId
from graphyard.api.models import StateUpdated, ThreadState, returns
from graphyard.api.routes.threads import load_thread
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import CheckpointBody, HistoryBody, StateUpdateBody
from graphyard.errors import BadRequest, Conflict
from graphyard.runs.backends import Services
from graphyard.runs.thread_state import (
    EMPTY_STATE,
    checkpoint_json,
    refresh_thread,
    require_checkpoint,
    state_json,
    thread_config,
    thread_graph,
)
from graphyard.storage import events as event_log
from graphyard.storage import threads as rows
from graphyard.storage.db import notify_channel
from graphyard.storage.rows import ThreadRow

router = APIRouter(prefix="/threads", tags=["threads"], route_class=BodyRoute)


async def _readable(services: Services, auth: RequestAuth, thread_id: str) -> ThreadRow:
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id})
    return await load_thread(services, thread_id, scope)


async def _state(
    services: Services,
    auth: RequestAuth,
    thread_id: str,
    checkpoint: dict[str, Any] | None,
    subgraphs: bool,
) -> dict[str, Any]:
    thread = await _readable(services, auth, thread_id)
    async with services.pool.connection() as conn:
        await require_checkpoint(conn, str(thread["thread_id"]), checkpoint)
    config = thread_config(thread, checkpoint)
    async with thread_graph(services, thread, config, auth.run_configurable()) as graph:
        if graph is None:
            return dict(EMPTY_STATE)
        return state_json(await graph.aget_state(config, subgraphs=subgraphs))


@router.get("/{thread_id}/state", **returns(ThreadState))
async def get_state(
    thread_id: ThreadId, services: Deps, auth: AuthDep, subgraphs: bool = False
) -> dict[str, Any]:
    """The thread's current state: values, next nodes, tasks, interrupts and checkpoint.
    ``subgraphs=true`` nests the subgraphs' states in ``tasks[].state``; a thread no graph has
    run on yet has an empty state."""
    return await _state(services, auth, thread_id, None, subgraphs)


@router.get("/{thread_id}/state/{checkpoint_id}", **returns(ThreadState))
async def get_state_at(
    thread_id: ThreadId, checkpoint_id: str, services: Deps, auth: AuthDep, subgraphs: bool = False
) -> dict[str, Any]:
    """The thread's state at checkpoint ``checkpoint_id`` (root namespace); 404 when the thread
    has no such checkpoint."""
    return await _state(services, auth, thread_id, {"checkpoint_id": checkpoint_id}, subgraphs)


@router.post("/{thread_id}/state/checkpoint", **returns(ThreadState))
async def get_state_at_checkpoint(
    thread_id: ThreadId, body: CheckpointBody, services: Deps, auth: AuthDep
) -> dict[str, Any]:
    """The thread's state at the body's ``checkpoint`` (``checkpoint_id`` and ``checkpoint_ns``,
    so a subgraph's checkpoint too), with ``subgraphs`` as for ``GET .../state``. 404 when the
    thread has no such checkpoint."""
    return await _state(services, auth, thread_id, body.checkpoint, body.subgraphs)


@router.post("/{thread_id}/state", **returns(StateUpdated))
async def update_state(
    thread_id: ThreadId, body: StateUpdateBody, services: Deps, auth: AuthDep
) -> dict[str, Any]:
    """Write ``values`` into the thread's state as if node ``as_node`` had returned them (from
    ``checkpoint`` or ``checkpoint_id`` when given) and answer the new checkpoint. 409 while the
    thread has runs in flight; 400 when it has no graph yet or the graph refuses the update."""
    scope = await auth.authorize("threads", "update", {"thread_id": thread_id, "metadata": {}})
    thread = await load_thread(services, thread_id, scope)
    tid = str(thread["thread_id"])
    checkpoint = body.checkpoint or (
        {"checkpoint_id": body.checkpoint_id} if body.checkpoint_id else None
    )
    async with services.pool.connection() as conn:
        live = await rows.live_run_ids(conn, tid)
        if live:
            raise Conflict(f"Thread {tid} has in-flight runs: {live}")
        await require_checkpoint(conn, tid, checkpoint)
    config = thread_config(thread, checkpoint)
    async with thread_graph(
        services, thread, config, auth.run_configurable(), "threads.update"
    ) as graph:
        if graph is None:
            raise BadRequest(
                f"Thread '{tid}' has no assigned graph ID. This usually means no run has been "
                "executed on this thread yet."
            )
        try:
            new_config = await graph.aupdate_state(config, body.values, as_node=body.as_node)
        except InvalidUpdateError:
            raise
        except Exception as exc:
            # The graph's own code (a conditional edge, a reducer) refused these values.
            raise BadRequest(
                f"The graph could not apply this update: {type(exc).__name__}: {exc}"
            ) from exc
        await refresh_thread(services, thread, graph)
        # Thread streams following state_update see the new state.
        state = state_json(await graph.aget_state(thread_config(thread, None)))
    async with services.pool.connection() as conn:
        await event_log.append(
            conn,
            notify_channel(services.settings),
            run_id=None,
            thread_id=tid,
            events=[event_log.event(event_log.STATE_UPDATE, {"state": state, "thread_id": tid})],
        )
    saved = checkpoint_json(new_config)
    return {
        "checkpoint": saved,
        "configurable": new_config.get("configurable", {}),
        "checkpoint_id": saved["checkpoint_id"] if saved else None,
    }


async def _history(
    services: Services,
    auth: RequestAuth,
    thread_id: str,
    *,
    limit: int,
    before: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    checkpoint: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    thread = await _readable(services, auth, thread_id)
    config = thread_config(thread, checkpoint)
    before_config = thread_config(thread, before) if before else None
    async with thread_graph(services, thread, config, auth.run_configurable()) as graph:
        if graph is None:
            return []
        return [
            state_json(s)
            async for s in graph.aget_state_history(
                config, filter=metadata, before=before_config, limit=limit
            )
        ]


@router.get("/{thread_id}/history", **returns(list[ThreadState]))
async def get_history(
    thread_id: ThreadId,
    services: Deps,
    auth: AuthDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """The thread's past states, newest first: ``limit`` of them (default 1), before the
    checkpoint whose id is ``before`` when given."""
    before_cp = {"checkpoint_id": before} if before else None
    return await _history(
        services, auth, thread_id, limit=limit, before=before_cp, metadata=None, checkpoint=None
    )


@router.post("/{thread_id}/history", **returns(list[ThreadState]))
async def post_history(
    thread_id: ThreadId, body: HistoryBody, services: Deps, auth: AuthDep
) -> list[dict[str, Any]]:
    """The thread's past states, newest first, as ``GET`` gives them: ``limit``, ``before`` (a
    checkpoint or its id), a ``metadata`` filter, and ``checkpoint`` to read from (a subgraph's
    namespace, say)."""
    before = {"checkpoint_id": body.before} if isinstance(body.before, str) else body.before
    if before is not None and isinstance(inner := before.get("configurable"), dict):
        # A config (what the JS SDK sends and the reference reads), or the checkpoint itself.
        before = inner
    return await _history(
        services,
        auth,
        thread_id,
        limit=body.limit,
        before=before,
        metadata=body.metadata,
        checkpoint=body.checkpoint,
    )
