"""Cron request bodies and the Cron as clients read it (``langgraph_sdk.schema.Cron``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from graphyard.api.schemas import MAX_OFFSET
from graphyard.runs.request import Body, Durability, MultitaskStrategy, OnCompletion, StreamMode
from graphyard.storage.rows import CronRow

CRON_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "user_id",
    "end_time",
    "schedule",
    "timezone",
    "payload",
    "next_run_date",
    "metadata",
    "on_run_completed",
    "enabled",
    "created_at",
    "updated_at",
)


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown timezone {value!r}: expected an IANA name") from None
    return value


_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_DURATION = r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))+"
_EVERY = re.compile(rf"@every\s+{_DURATION}(?:/{_DURATION})?", re.I)
_FIELD = re.compile(r"[\w*?/,#-]+")
SCHEDULE_FORMS = (
    "5 fields (minute hour day-of-month month day-of-week, e.g. '0 9 * * 1-5'), "
    "'@hourly', '@daily', '@weekly', '@monthly', '@yearly', or '@every <duration>' "
    "(e.g. '@every 30s', '@every 1h/15m')"
)


def _check_schedule(value: str | None) -> str | None:
    # Temporal would also take 6 and 7 fields (seconds, years) and run them differently from
    # what the cron syntax of the Agent Server API says: only its forms are let through here.
    # Temporal still validates the values of the fields when the schedule is created.
    if value is None:
        return value
    text = value.strip()
    if not text:
        raise ValueError("schedule must not be empty")
    if text.startswith("@"):
        if text.lower() in _DESCRIPTORS or _EVERY.fullmatch(text):
            return value
        raise ValueError(f"Invalid schedule {value!r}: expected {SCHEDULE_FORMS}")
    fields = text.split()
    if len(fields) != 5 or not all(_FIELD.fullmatch(f) for f in fields):
        raise ValueError(
            f"Invalid schedule {value!r} ({len(fields)} fields): expected {SCHEDULE_FORMS}"
        )
    return value


class CronFields(Body):
    """What a cron's runs are: the run request fields a cron keeps in its payload."""

    input: Any = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Durability | None = None
    checkpoint_during: bool | None = None
    end_time: datetime | None = None
    timezone: str | None = None
    enabled: bool | None = None

    _timezone = field_validator("timezone")(_check_timezone)


class CronCreate(CronFields):
    assistant_id: str
    schedule: str = Field(min_length=1, max_length=256)
    multitask_strategy: MultitaskStrategy | None = None
    on_run_completed: OnCompletion | None = None

    _schedule = field_validator("schedule")(_check_schedule)


class CronPatch(CronFields):
    schedule: str | None = Field(default=None, min_length=1, max_length=256)
    on_run_completed: OnCompletion | None = None

    _schedule = field_validator("schedule")(_check_schedule)


class CronSearch(Body):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    sort_by: Literal[
        "cron_id",
        "assistant_id",
        "thread_id",
        "next_run_date",
        "end_time",
        "created_at",
        "updated_at",
    ] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class CronCount(Body):
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None


def cron_json(row: CronRow) -> dict[str, Any]:
    columns: Mapping[str, Any] = row  # read by name, as CRON_FIELDS lists them
    out = {k: columns.get(k) for k in CRON_FIELDS}
    payload = out.get("payload")
    if isinstance(payload, dict):
        # Who made the cron (the user its runs get) is the server's, not the cron's wire shape.
        out["payload"] = {k: v for k, v in payload.items() if k != "caller"}
    for key in ("cron_id", "assistant_id", "thread_id"):
        out[key] = str(columns[key]) if columns.get(key) is not None else None
    return out
