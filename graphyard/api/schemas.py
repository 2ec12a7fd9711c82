"""Request bodies and response shapes; literals mirror ``langgraph_sdk.schema``.

Unknown request fields are tolerated, as the reference server tolerates them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from graphyard.errors import Unprocessable
from graphyard.runs.request import Body
from graphyard.storage.rows import AssistantRow, AssistantVersionRow, RunRow, ThreadRow

# Postgres OFFSET takes a bigint.
MAX_OFFSET = 2**63 - 1


class AssistantSearch(Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["assistant_id", "created_at", "updated_at", "name", "graph_id"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


# The fields of an Assistant: what ``select`` may name.
ASSISTANT_FIELDS = (
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "description",
    "version",
    "created_at",
    "updated_at",
)


class AssistantCreate(Body):
    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = None
    description: str | None = None


class AssistantPatch(Body):
    """Only the fields given change; ``metadata`` is merged into the current one."""

    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class AssistantCount(Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantVersionsSearch(Body):
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class AssistantLatest(Body):
    version: int | None = None


class ThreadTTL(Body):
    """The thread is deleted (or pruned to its latest checkpoint) ``ttl`` minutes after its
    last update."""

    strategy: Literal["delete", "keep_latest"] = "delete"
    ttl: float = Field(gt=0)


class ThreadCreate(Body):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: list[dict[str, Any]] | None = None
    ttl: ThreadTTL | float | None = None


def assistant_json(row: AssistantRow) -> dict[str, Any]:
    return {**assistant_version_json(row), "updated_at": row["updated_at"]}


def assistant_version_json(row: AssistantVersionRow) -> dict[str, Any]:
    """A version item: an Assistant without ``updated_at``."""
    return {
        "assistant_id": str(row["assistant_id"]),
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "name": row["name"],
        "description": row["description"],
        "version": row["version"],
        "created_at": row["created_at"],
    }


def thread_json(row: ThreadRow) -> dict[str, Any]:
    return {
        "thread_id": str(row["thread_id"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "state_updated_at": row["state_updated_at"],
        "metadata": row["metadata"],
        "status": row["status"],
        "config": row["config"],
        "values": row["values"],
        "interrupts": row["interrupts"] or {},
        "error": row["error"],
    }


def run_json(row: RunRow) -> dict[str, Any]:
    return {
        "run_id": str(row["run_id"]),
        "thread_id": str(row["thread_id"]),
        "assistant_id": str(row["assistant_id"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "status": row["status"],
        "metadata": row["metadata"],
        "kwargs": row["kwargs"],
        "multitask_strategy": row["multitask_strategy"],
        "langsmith_session_name": None,
        # graphyard's own: how the run's webhook went (null without one).
        "webhook_delivery": row.get("webhook_delivery"),
    }


class ThreadPatch(Body):
    metadata: dict[str, Any] | None = None
    ttl: ThreadTTL | float | None = None


def ttl_setting(ttl: ThreadTTL | float | None) -> tuple[str, float] | None:
    """A request's TTL as (strategy, minutes); a bare number means ``delete``."""
    if ttl is None:
        return None
    if isinstance(ttl, ThreadTTL):
        return ttl.strategy, ttl.ttl
    if ttl <= 0:
        raise Unprocessable("ttl must be a positive number of minutes")
    return "delete", float(ttl)


class ThreadSearch(Body):
    ids: list[str] | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] = (
        "created_at"
    )
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class ThreadCount(Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None


class ThreadPrune(Body):
    thread_ids: list[str]
    strategy: Literal["delete", "keep_latest"] = "delete"


class CheckpointBody(Body):
    checkpoint: dict[str, Any]
    subgraphs: bool = False


class StateUpdateBody(Body):
    values: Any = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None


class HistoryBody(Body):
    limit: int = Field(default=1, ge=1, le=1000)
    before: dict[str, Any] | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


class RunsCancel(Body):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None
