"""Crons as Temporal Schedules: schedule ``cron-<cron_id>`` starts a ``CronWorkflow`` at each
firing (visible, pausable and triggerable in the Temporal UI and CLI)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from graphyard.config import Settings
from graphyard.storage.rows import CronRow
from graphyard.types import CRON_WORKFLOW, CronFire

# A firing missed while Temporal was down is made up only this late; older ones are skipped.
CATCHUP_WINDOW = timedelta(minutes=1)


def schedule_id(cron_id: str) -> str:
    return f"cron-{cron_id}"


def _schedule(settings: Settings, cron: CronRow) -> Schedule:
    cron_id = str(cron["cron_id"])
    where = f"thread {cron['thread_id']}" if cron["thread_id"] else "a new thread per run"
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CRON_WORKFLOW,
            CronFire(cron_id),
            id=schedule_id(cron_id),  # Temporal appends each firing's time
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            cron_expressions=[cron["schedule"]],
            time_zone_name=cron["timezone"] or "UTC",
            end_at=cron["end_time"],
        ),
        # A firing only creates its run (the run's multitask strategy meets runs in flight):
        # one still creating when the next is due (no worker up) makes the next one skip.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(
            paused=not cron["enabled"],
            note=f"graphyard cron {cron_id}: assistant {cron['assistant_id']} on {where}",
        ),
    )


async def next_run(handle: ScheduleHandle) -> datetime | None:
    description = await handle.describe()
    times = description.info.next_action_times
    return times[0] if times and not description.schedule.state.paused else None


async def create(client: Client, settings: Settings, cron: CronRow) -> datetime | None:
    """Create the cron's schedule; its next firing time. Temporal validates the expression
    (``RPCError`` INVALID_ARGUMENT)."""
    handle = await client.create_schedule(
        schedule_id(str(cron["cron_id"])), _schedule(settings, cron)
    )
    return await next_run(handle)


async def replace(client: Client, settings: Settings, cron: CronRow) -> datetime | None:
    handle = client.get_schedule_handle(schedule_id(str(cron["cron_id"])))
    schedule = _schedule(settings, cron)

    def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await handle.update(updated)
    return await next_run(handle)


async def delete(client: Client, cron_id: str) -> None:
    """Delete the cron's schedule (gone already is fine)."""
    try:
        await client.get_schedule_handle(schedule_id(cron_id)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def next_run_of(client: Client, cron_id: str) -> datetime | None:
    with contextlib.suppress(RPCError):
        return await next_run(client.get_schedule_handle(schedule_id(cron_id)))
    return None
