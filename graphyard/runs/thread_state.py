"""``ThreadState`` as clients read it, rendered from LangGraph's ``StateSnapshot``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.pregel import Pregel
from langgraph.types import PregelTask, StateSnapshot

from graphyard.errors import NotFound
from graphyard.graph_factories import Access
from graphyard.runs.backends import Services
from graphyard.serde import interrupt_json, to_jsonable
from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage.rows import Conn, ThreadRow

EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def checkpoint_json(config: RunnableConfig | None) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("checkpoint_id"):
        return None
    out = {
        "thread_id": str(configurable.get("thread_id")),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable["checkpoint_id"],
    }
    if configurable.get("checkpoint_map"):
        out["checkpoint_map"] = configurable["checkpoint_map"]
    return out


def _task_json(task: PregelTask) -> dict[str, Any]:
    nested = task.state
    return {
        "id": task.id,
        "name": task.name,
        "path": to_jsonable(task.path),
        "error": repr(task.error) if task.error is not None else None,
        "interrupts": [interrupt_json(i, stream=False) for i in task.interrupts],
        "checkpoint": checkpoint_json(nested)
        if nested is not None and not isinstance(nested, StateSnapshot)
        else None,
        "state": state_json(nested) if isinstance(nested, StateSnapshot) else None,
        "result": to_jsonable(task.result) if task.result is not None else None,
    }


def state_json(snapshot: StateSnapshot) -> dict[str, Any]:
    """Render a snapshot; a thread that never ran renders as the reference's empty state."""
    checkpoint = checkpoint_json(snapshot.config)
    if checkpoint is None:
        return dict(EMPTY_STATE)
    parent = checkpoint_json(snapshot.parent_config)
    return {
        "values": to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [_task_json(t) for t in snapshot.tasks],
        "metadata": to_jsonable(snapshot.metadata),
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": [interrupt_json(i, stream=False) for i in snapshot.interrupts],
        "checkpoint_id": checkpoint["checkpoint_id"],
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def thread_config(thread: ThreadRow, checkpoint: dict[str, Any] | None = None) -> RunnableConfig:
    """The config that addresses a thread's state (optionally at a checkpoint)."""
    configurable = {
        **((thread["config"] or {}).get("configurable") or {}),
        "thread_id": str(thread["thread_id"]),
        "checkpoint_ns": "",
    }
    for key, value in (checkpoint or {}).items():
        if value is not None and key != "thread_id":
            configurable[key] = value
    return RunnableConfig(configurable=configurable)


async def require_checkpoint(conn: Conn, thread_id: str, checkpoint: dict[str, Any] | None) -> None:
    """404 unless the thread has the checkpoint ``checkpoint`` names (if it names one):
    LangGraph reads an unknown checkpoint as an empty state, and runs from it as from
    nothing (``EmptyInputError``)."""
    checkpoint_id = (checkpoint or {}).get("checkpoint_id")
    if checkpoint_id is None:
        return
    ns = (checkpoint or {}).get("checkpoint_ns") or ""
    if not (
        isinstance(checkpoint_id, str)
        and isinstance(ns, str)
        and await checkpoint_rows.exists(conn, thread_id, checkpoint_id, ns)
    ):
        raise NotFound(f"Checkpoint {checkpoint_id!r} not found in thread {thread_id}")


@asynccontextmanager
async def thread_graph(
    services: Services,
    thread: ThreadRow,
    config: RunnableConfig,
    caller: dict[str, Any] | None = None,
    access: Access = "threads.read",
) -> AsyncIterator[Pregel[Any, Any, Any, Any] | None]:
    """The graph that last ran on the thread, bound to a fresh saver and the store, for the
    use's length; ``None`` if none has. A graph factory is called with ``config``, the
    caller's ``langgraph_auth_*`` keys (``caller``) and a runtime for ``access``, as the
    reference calls it."""
    graph_id = thread["metadata"].get("graph_id")
    if not graph_id or graph_id not in services.graphs:
        yield None
        return
    saver = AsyncPostgresSaver(services.pool)
    configurable = {**(config.get("configurable") or {}), **(caller or {})}
    bound = RunnableConfig(**{**config, "configurable": configurable})
    async with services.graphs.get(graph_id).bind(bound, saver, services.store, access) as graph:
        yield graph


async def refresh_thread(
    services: Services, thread: ThreadRow, graph: Pregel[Any, Any, Any, Any]
) -> ThreadRow:
    """Recompute a thread's status, values and interrupts from its latest checkpoint."""
    state = await graph.aget_state(thread_config(thread))
    interrupts = {
        t.id: [interrupt_json(i, stream=False) for i in t.interrupts]
        for t in state.tasks
        if t.interrupts
    }
    async with services.pool.connection() as conn:
        row = await thread_rows.refresh_state(
            conn,
            str(thread["thread_id"]),
            status="interrupted" if state.next else "idle",
            values=to_jsonable(state.values),
            interrupts=interrupts,
        )
    assert row is not None
    return row
