"""Activities: all I/O of a run (super-steps, status writes, webhooks, cron firings)
happens here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphyard.activities.context import WorkerContext
from graphyard.activities.crons import CronActivities
from graphyard.activities.queue import QueueActivities
from graphyard.activities.runs import RunActivities
from graphyard.activities.step import StepActivities
from graphyard.activities.webhooks import WebhookActivities
from graphyard.runs.backends import Backends


def all_activities(ctx: WorkerContext, backends: Backends) -> list[Callable[..., Any]]:
    """Every activity of a worker, bound to its shared resources."""
    step = StepActivities(ctx)
    runs = RunActivities(ctx)
    crons = CronActivities(backends)
    webhooks = WebhookActivities(ctx, backends.settings.webhook_secret)
    queue = QueueActivities(backends.pool)
    return [
        step.step,
        runs.finish_run,
        queue.wait_for_run,
        crons.fire_cron,
        webhooks.deliver,
        webhooks.webhook_failed,
    ]
