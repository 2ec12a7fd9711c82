"""Threads: create, get, and their state."""

from __future__ import annotations

from typing import Any

import uuid_utils
from fastapi import APIRouter
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from graphyard.api.deps import Deps, check_uuid
from graphyard.api.schemas import ThreadCreate, thread_json
from graphyard.api.state import EMPTY_STATE, state_json
from graphyard.errors import Conflict, NotFound
from graphyard.storage import threads as rows

router = APIRouter(prefix="/threads", tags=["threads"])


async def load_thread(services: Deps, thread_id: str) -> dict[str, Any]:
    """The thread row, or 404 ``Thread with ID <id> not found``."""
    thread_id = check_uuid(thread_id, "thread")
    async with services.pool.connection() as conn:
        row = await rows.get(conn, thread_id)
    if row is None:
        raise NotFound(f"Thread with ID {thread_id} not found")
    return row


@router.post("")
async def create(body: ThreadCreate, services: Deps) -> dict[str, Any]:
    thread_id = check_uuid(body.thread_id, "thread") if body.thread_id else str(uuid_utils.uuid7())
    async with services.pool.connection() as conn:
        row = await rows.create(conn, thread_id, body.metadata or {})
        if row is None:
            if body.if_exists == "do_nothing":
                row = await rows.get(conn, thread_id)
                assert row is not None
            else:
                raise Conflict(f"Thread with ID {thread_id} already exists")
    return thread_json(row)


@router.get("/{thread_id}")
async def get(thread_id: str, services: Deps) -> dict[str, Any]:
    return thread_json(await load_thread(services, thread_id))


@router.get("/{thread_id}/state")
async def get_state(thread_id: str, services: Deps, subgraphs: bool = False) -> dict[str, Any]:
    row = await load_thread(services, thread_id)
    graph_id = row["metadata"].get("graph_id")
    if not graph_id or graph_id not in services.graphs:
        return dict(EMPTY_STATE)
    config = RunnableConfig(
        configurable={
            **(row["config"].get("configurable") or {}),
            "thread_id": str(row["thread_id"]),
            "checkpoint_ns": "",
        }
    )
    saver = AsyncPostgresSaver(services.pool)
    graph = await services.graphs.get(graph_id).bind(config, saver)
    snapshot = await graph.aget_state(config, subgraphs=subgraphs)
    return state_json(snapshot)
