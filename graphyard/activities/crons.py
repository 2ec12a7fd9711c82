"""A cron's firing: create its run, as a client's request would (the same validation, thread
lock and multitask strategy), once per firing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from graphyard import schedules
from graphyard.errors import Conflict, NotFound, Unprocessable
from graphyard.runs.backends import Backends
from graphyard.runs.caller import Caller
from graphyard.runs.request import RunCreate
from graphyard.runs.submit import create_run
from graphyard.storage import crons as cron_rows
from graphyard.storage.rows import CronRow
from graphyard.types import FIRE_CRON_ACTIVITY, FireInput

# What of a cron's payload becomes the run request (the rest describes the cron).
RUN_FIELDS = (
    "assistant_id",
    "input",
    "metadata",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "multitask_strategy",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
)


def run_request(cron: CronRow) -> RunCreate:
    """The run request of a cron's firing."""
    payload = cron["payload"]
    body: dict[str, Any] = {k: payload[k] for k in RUN_FIELDS if payload.get(k) is not None}
    if cron["thread_id"] is None:
        body["on_completion"] = cron["on_run_completed"] or "delete"
        body.pop("multitask_strategy", None)
    return RunCreate.model_validate(body)


class CronActivities:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    @activity.defn(name=FIRE_CRON_ACTIVITY)
    async def fire_cron(self, inp: FireInput) -> str | None:
        """The run of this firing (the same one if retried), or ``None`` when the cron is
        disabled, past its end, or its strategy refused the run."""
        async with self.backends.pool.connection() as conn:
            cron = await cron_rows.get(conn, inp.cron_id)
        if cron is None:
            # Deleted with its thread (delete, prune, TTL): its schedule goes too.
            await schedules.delete(self.backends.temporal, inp.cron_id)
            return None
        if not cron["enabled"]:
            return None
        if cron["end_time"] is not None and cron["end_time"] <= datetime.now(UTC):
            return None
        thread_id = str(cron["thread_id"]) if cron["thread_id"] else None
        try:
            # The user who made the cron reaches its runs' graph, as a request's would.
            caller = Caller(configurable=cron["payload"].get("caller") or {})
            submitted = await create_run(
                self.backends,
                run_request(cron),
                thread_id=thread_id,
                idempotency_key=inp.firing_id,
                caller=caller,
            )
            run_id: str | None = str(submitted.row["run_id"])
        except Conflict:
            activity.logger.info("cron %s: its thread is busy and it rejects", inp.cron_id)
            run_id = None
        except (NotFound, Unprocessable) as exc:
            # Its assistant is gone, or langgraph.json's webhook rules changed since.
            activity.logger.warning("cron %s cannot run: %s", inp.cron_id, exc.detail)
            run_id = None
        when = await schedules.next_run_of(self.backends.temporal, inp.cron_id)
        async with self.backends.pool.connection() as conn:
            await cron_rows.set_next_run(conn, inp.cron_id, when)
        return run_id
