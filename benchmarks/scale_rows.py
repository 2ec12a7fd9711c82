"""The rows ``scale_data`` writes, shaped as graphyard writes them: a thread's metadata and
state, a run's kwargs, output and error, a chain run's stream events, store items and crons."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

CHAIN_STEPS = [f"node_{i}" for i in range(10)]
RUNS_PER_THREAD = 10
EVENTS_PER_RUN = 10

#: Thread status by its last run's: a run waiting at an interrupt leaves it ``interrupted``.
THREAD_STATUS = {
    "success": "idle",
    "error": "error",
    "timeout": "error",
    "interrupted": "interrupted",
    "pending": "busy",
    "running": "busy",
}
#: A run's status, weighted as a live deployment's history looks (the live ones are rare).
RUN_STATUSES = ["success"] * 860 + ["error"] * 60 + ["timeout"] * 20 + ["interrupted"] * 56
RUN_STATUSES += ["pending"] * 2 + ["running"] * 2


def metadata(i: int, users: int, assistant_id: str) -> dict[str, Any]:
    """Thread ``i``'s metadata: what graphyard adds (graph, assistant) and what an app would."""
    return {
        "graph_id": "chain",
        "assistant_id": assistant_id,
        "user_id": f"user-{i % users}",
        "tenant": f"tenant-{i % 50}",
        "channel": ("web", "slack", "api")[i % 3],
    }


def configurable(thread_id: str, run_id: str, assistant_id: str) -> dict[str, Any]:
    """A run's ``config.configurable`` as graphyard fills it."""
    return {
        "run_id": run_id,
        "graph_id": "chain",
        "thread_id": thread_id,
        "assistant_id": assistant_id,
    }


def kwargs(meta: dict[str, Any], configurable: dict[str, Any]) -> str:
    """A run's kwargs as ``RunKwargs.as_json`` keeps them."""
    return json.dumps(
        {
            "input": {"steps": []},
            "config": {"metadata": {**meta, "created_by": "system"}, "configurable": configurable},
            "command": None,
            "context": {},
            "webhook": None,
            "in_flight": [],
            "resumable": False,
            "subgraphs": False,
            "temporary": False,
            "checkpoint": None,
            "durability": "async",
            "stream_mode": ["values"],
            "request_hash": None,
            "after_seconds": None,
            "feedback_keys": None,
            "interrupt_after": None,
            "interrupt_before": None,
            "checkpoint_during": True,
        }
    )


_DONE_VALUES = json.dumps({"steps": CHAIN_STEPS})
_ERROR = json.dumps({"error": "ValueError", "message": "the tool answered 503"})
_TIMEOUT = json.dumps({"error": "TimeoutError", "message": "run timed out"})
_INTERRUPT = json.dumps({"__interrupt__": [{"value": "approve?", "id": "0" * 32}]})


def run_row(
    thread_id: str,
    meta: dict[str, Any],
    created: datetime,
    status: str,
    waiting: bool,
) -> tuple[Any, ...]:
    """A run of ``chain`` created at ``created`` that ended ``status`` (``RUN_COLUMNS``): a
    live one has not ended, one ``waiting`` is paused at an interrupt."""
    run_id = str(uuid.uuid4())
    live = status in ("pending", "running")
    ended = None if live or waiting else created + timedelta(seconds=2)
    output = {"success": _DONE_VALUES, "interrupted": _INTERRUPT}.get(status)
    error = {"error": _ERROR, "timeout": _TIMEOUT}.get(status)
    started = None if status == "pending" else created + timedelta(milliseconds=40)
    ids = configurable(thread_id, run_id, meta["assistant_id"])
    return (
        *(run_id, thread_id, meta["assistant_id"], created, ended or created, started, ended),
        *(status, "{}", kwargs(meta, ids), "enqueue", output, error, waiting),
    )


RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, started_at, ended_at, status, "
    "metadata, kwargs, multitask_strategy, output, error, waiting"
)
EVENT_COLUMNS = "run_id, thread_id, step, attempt, event, data, created_at"


def events(run: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """A chain run's stream: ``metadata``, the values after each step, then its end."""
    run_id, thread_id, created = run[0], run[1], run[3]
    yield run_id, thread_id, None, 1, "metadata", f'{{"run_id":"{run_id}","attempt":1}}', created
    for step in range(EVENTS_PER_RUN - 2):
        data = json.dumps({"steps": CHAIN_STEPS[:step]}, separators=(",", ":"))
        at = created + timedelta(milliseconds=50 + 8 * step)
        yield run_id, thread_id, step, 1, "values", data, at
    done = f'{{"status":"run_done","run_id":"{run_id}"}}'
    yield run_id, thread_id, None, 1, "run_done", done, created + timedelta(seconds=2)


STORE_COLUMNS = "prefix, key, value, created_at, updated_at"


def store_row(user: str, key: str, i: int, created: datetime) -> tuple[Any, ...]:
    """A memory of ``user``'s, as an app's graph would put it (``STORE_COLUMNS``)."""
    value = json.dumps({"text": f"prefers answers in {('en', 'fr', 'de')[i % 3]}", "n": i})
    return f"users.{user}.memories", key, value, created, created


def cron_row(
    assistant_id: str, thread_id: str, user: str, enabled: bool, created: datetime
) -> tuple[Any, ...]:
    """A daily cron on ``thread_id`` as graphyard stores one (``CRON_COLUMNS``)."""
    cron_id = str(uuid.uuid4())
    payload = {
        "assistant_id": assistant_id,
        "schedule": "0 9 * * *",
        "config": {"configurable": {"cron_id": cron_id}},
    }
    return (
        *(cron_id, assistant_id, thread_id, "0 9 * * *", json.dumps(payload)),
        *(json.dumps({"user_id": user}), enabled, created + timedelta(days=1), created, created),
    )


THREAD_COLUMNS = (
    'thread_id, created_at, updated_at, state_updated_at, metadata, status, config, "values", '
    "interrupts"
)


def thread_rows(
    threads: list[tuple[str, dict[str, Any], datetime, str]],
) -> Iterator[tuple[Any, ...]]:
    """Threads (id, metadata, created, status) after their ten runs (``THREAD_COLUMNS``)."""
    for thread_id, meta, created, status in threads:
        updated = created + timedelta(minutes=RUNS_PER_THREAD)
        config = {"configurable": {"thread_id": thread_id, "graph_id": "chain"}}
        interrupts = _INTERRUPT if status == "interrupted" else "{}"
        yield (
            *(thread_id, created, updated, updated, json.dumps(meta), status),
            *(json.dumps(config), _DONE_VALUES, interrupts),
        )


CRON_COLUMNS = (
    "cron_id, assistant_id, thread_id, schedule, payload, metadata, enabled, next_run_date, "
    "created_at, updated_at"
)
