"""Response shapes for the OpenAPI description, mirroring ``langgraph_sdk.schema``.

They document; they do not filter. Routes build their bodies with the ``*_json`` functions and
declare these with ``returns(...)``, so a field added to a body is never silently dropped.
The suite's schemathesis run checks that responses conform to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from graphyard.types import RunStatus, ThreadStatus


class Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class AssistantVersion(Doc):
    assistant_id: str
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None
    version: int
    created_at: datetime


class Assistant(AssistantVersion):
    updated_at: datetime


class GraphSchemas(Doc):
    graph_id: str | None = None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None = None


class GraphDrawing(Doc):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class Interrupt(Doc):
    value: Any
    id: str


class Checkpoint(Doc):
    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    checkpoint_map: dict[str, Any] | None = None


class ThreadTTL(Doc):
    strategy: Literal["delete", "keep_latest"]
    ttl_minutes: float
    expires_at: datetime


class Thread(Doc):
    thread_id: str
    created_at: datetime
    updated_at: datetime
    state_updated_at: datetime
    metadata: dict[str, Any]
    status: ThreadStatus
    config: dict[str, Any]
    values: Any
    interrupts: dict[str, list[Interrupt]]
    error: Any
    ttl: ThreadTTL | None = None


class ThreadTask(Doc):
    id: str
    name: str
    error: str | None
    interrupts: list[Interrupt]
    checkpoint: Checkpoint | None
    state: ThreadState | None
    result: Any


class ThreadState(Doc):
    values: Any
    next: list[str]
    tasks: list[ThreadTask]
    metadata: dict[str, Any] | None
    created_at: str | None
    checkpoint: Checkpoint | None
    parent_checkpoint: Checkpoint | None
    interrupts: list[Interrupt]


class StateUpdated(Doc):
    checkpoint: Checkpoint | None
    configurable: dict[str, Any]
    checkpoint_id: str | None


class WebhookDelivery(Doc):
    """How a run's webhook went: ``pending`` until the run's end, ``retrying`` after a failed
    attempt, then ``delivered`` (the receiver answered 2xx) or ``failed`` (attempts ran out,
    or the URL was refused). A failed delivery never changes the run's status."""

    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    status_code: int | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


class Run(Doc):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime
    updated_at: datetime
    status: RunStatus
    metadata: dict[str, Any]
    kwargs: dict[str, Any]
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None
    webhook_delivery: WebhookDelivery | None = None


class Cron(Doc):
    cron_id: str
    assistant_id: str
    thread_id: str | None
    user_id: str | None
    end_time: datetime | None
    schedule: str
    timezone: str | None
    payload: dict[str, Any]
    next_run_date: datetime | None
    metadata: dict[str, Any]
    on_run_completed: Literal["delete", "keep"] | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RunErrorRecord(Doc):
    error: str
    message: str
    step: int | None = None
    attempts: int | None = None


class DeadRun(Run):
    """A run that ended ``error``, with its dead-letter record."""

    error: RunErrorRecord | None


class StorageCount(Doc):
    count: int
    bytes: int


class ChannelStorage(Doc):
    versions: int
    bytes: int


class ChannelValuesStorage(StorageCount):
    by_channel: dict[str, ChannelStorage]


class ThreadStorage(Doc):
    thread_id: str
    total_bytes: int
    checkpoints: StorageCount
    channel_values: ChannelValuesStorage
    pending_writes: StorageCount


class Pruned(Doc):
    pruned_count: int


class StoreItem(Doc):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class StoreSearchItem(StoreItem):
    score: float | None = None


class StoreSearchItems(Doc):
    items: list[StoreSearchItem]


class StoreNamespaces(Doc):
    namespaces: list[list[str]]


class Health(Doc):
    ok: bool
    services: dict[str, bool]


class Info(Doc):
    version: str
    langgraph_py_version: str
    flags: dict[str, bool]
    host: dict[str, Any]


def returns(model: Any, description: str = "Successful Response") -> dict[str, Any]:
    """Route keywords documenting a JSON body of type ``model`` without filtering it."""
    return {
        "response_model": None,
        "responses": {200: {"model": model, "description": description}},
    }


WAIT: dict[str, Any] = {
    "response_model": None,
    "responses": {
        200: {
            "description": "The run's final values (with `__interrupt__` when it stopped at "
            "one, or `__error__` when it failed). Newlines keep the connection alive first.",
            "content": {"application/json": {"schema": {}}},
        }
    },
}

EVENT_STREAM: dict[str, Any] = {
    "response_model": None,
    "responses": {
        200: {
            "description": "Server-sent events: `event: <mode>`, `data: <json>`, `id: <seq>`.",
            "content": {"text/event-stream": {"schema": {}}},
        }
    },
}


ThreadTask.model_rebuild()
