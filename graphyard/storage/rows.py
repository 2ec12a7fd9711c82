"""The rows graphyard's tables hold, as the queries return them, and the connection they come on.

The pool's connections make dict rows (``psycopg.rows.dict_row``: LangGraph's saver shares the
pool and needs them), so nothing checks these types at run time: the storage modules cast what
a query returns to the row it selects. The fields follow the migrations (``migrations/versions``):
``uuid`` columns read as ``UUID``, ``timestamptz`` as aware ``datetime``, ``jsonb`` as the
decoded JSON, and a nullable column as ``... | None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from graphyard.types import MultitaskStrategy, RunStatus, ThreadStatus

# What the pool hands out (storage/db.py): every query of graphyard's runs on one of these.
Conn = AsyncConnection[DictRow]


class RunRow(TypedDict):
    """A ``runs`` row (``SELECT *``)."""

    run_id: UUID
    thread_id: UUID
    assistant_id: UUID
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status: RunStatus
    metadata: dict[str, Any]
    # What the run is given (runs/kwargs.py ``RunKwargs`` reads it).
    kwargs: dict[str, Any]
    multitask_strategy: MultitaskStrategy | None
    output: Any
    error: Any
    # Paused at an interrupt, waiting for its answer (migration 0004).
    waiting: bool
    # {"status", "attempts", "status_code", "last_error", "sent_at"}; None without a webhook.
    webhook_delivery: dict[str, Any] | None
    # The state values a run with a webhook ended with (migration 0006).
    end_values: Any
    cancel_requested_at: datetime | None


class StartedRunRow(RunRow):
    """``runs.mark_running``'s row: the run, and how long it was pending if this call moved
    it to ``running`` (``None`` if it did not)."""

    queue_wait: float | None


class ThreadRow(TypedDict):
    """A ``threads`` row (``SELECT *``)."""

    thread_id: UUID
    created_at: datetime
    updated_at: datetime
    state_updated_at: datetime
    metadata: dict[str, Any]
    status: ThreadStatus
    config: dict[str, Any]
    values: Any
    interrupts: dict[str, Any] | None
    error: Any
    # Time to live (migration 0003): ``delete`` or ``keep_latest``, after ``ttl_minutes``.
    ttl_strategy: str | None
    ttl_minutes: float | None
    ttl_swept_at: datetime | None


class AssistantVersionRow(TypedDict):
    """An ``assistant_versions`` row: an assistant as one of its changes left it."""

    assistant_id: UUID
    version: int
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None
    created_at: datetime


class AssistantRow(AssistantVersionRow):
    """An ``assistants`` row: its latest version (``version``), and when it last changed."""

    updated_at: datetime


class NewCron(TypedDict):
    """The columns ``crons.insert`` writes; the others take their defaults."""

    cron_id: str
    assistant_id: str
    thread_id: str | None
    schedule: str
    timezone: str | None
    end_time: datetime | None
    payload: dict[str, Any]
    metadata: dict[str, Any]
    on_run_completed: str | None
    enabled: bool


class CronRow(TypedDict):
    """A ``crons`` row (``SELECT *``); its timing lives in its Temporal Schedule too."""

    cron_id: UUID
    assistant_id: UUID
    thread_id: UUID | None
    user_id: str | None
    schedule: str
    timezone: str | None
    end_time: datetime | None
    # The run each firing creates (its request body, as given).
    payload: dict[str, Any]
    metadata: dict[str, Any]
    on_run_completed: str | None
    enabled: bool
    next_run_date: datetime | None
    created_at: datetime
    updated_at: datetime


class RunEventRow(TypedDict):
    """A ``run_events`` row as a run's stream reads it (``events.for_run``)."""

    seq: int
    event: str
    data: str


class ThreadEventRow(RunEventRow):
    """A ``run_events`` row as a thread's stream reads it (``events.for_thread``)."""

    run_id: UUID | None
    created_at: datetime
