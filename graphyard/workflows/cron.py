"""``CronWorkflow``: one firing of a cron, started by its Temporal Schedule (``cron-<cron_id>``).

It creates the firing's run (an ordinary run, with the cron's multitask strategy) through one
activity and ends; the run is its own ``RunWorkflow``. The firing workflow's ID, unique per
firing, is the run's idempotency key: a retried activity never creates a second run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from graphyard.types import CRON_WORKFLOW, FIRE_CRON_ACTIVITY, CronFire, FireInput

# Creating a run is a few Postgres statements and one Temporal start: retried while Postgres
# or Temporal recover, for up to a few minutes (a later firing takes over after that).
_FIRE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=12,
)


@workflow.defn(name=CRON_WORKFLOW)
class CronWorkflow:
    @workflow.run
    async def run(self, inp: CronFire) -> str | None:
        """The run this firing created (``None``: skipped, e.g. ``reject`` met a run)."""
        run_id: str | None = await workflow.execute_activity(
            FIRE_CRON_ACTIVITY,
            FireInput(inp.cron_id, workflow.info().workflow_id),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_FIRE_RETRY,
            summary=f"start the run of cron {inp.cron_id}",
        )
        return run_id
