"""``WebhookWorkflow`` (ID ``webhook-<run_id>-<...>``): delivers an ended run's webhook.

Its run's workflow starts it detached and closes, so a thread's next run never waits for a
receiver; retries (capped, with backoff) are Temporal's, visible in this workflow's history.
A delivery that fails every attempt is recorded on the run, whose status stays as it ended.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from graphyard.types import (
        WEBHOOK_ACTIVITY,
        WEBHOOK_FAILED_ACTIVITY,
        WEBHOOK_WORKFLOW,
        WebhookDelivery,
        WebhookFailure,
        WebhookInput,
    )

# An attempt's HTTP timeout plus reading the run and recording the attempt.
_MARGIN = timedelta(seconds=30)
# Recording the failure must land: retried without a cap.
_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookWorkflow:
    @workflow.run
    async def run(self, inp: WebhookDelivery) -> bool:
        """Whether the receiver took it."""
        policy = inp.policy
        try:
            await workflow.execute_activity(
                WEBHOOK_ACTIVITY,
                WebhookInput(inp.run, policy.timeout),
                start_to_close_timeout=policy.timeout + _MARGIN,
                retry_policy=RetryPolicy(
                    initial_interval=policy.initial_interval,
                    backoff_coefficient=policy.backoff,
                    maximum_interval=policy.maximum_interval,
                    maximum_attempts=policy.max_attempts,
                ),
                summary="deliver",
            )
            return True
        except ActivityError as err:
            # Retries ran out, or a rule refused the URL at send time.
            cause = err.cause
            exhausted = err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
            failure = WebhookFailure(
                inp.run,
                cause.message if isinstance(cause, FailureError) else err.message,
                policy.max_attempts if exhausted else None,
            )
        await workflow.execute_activity(
            WEBHOOK_FAILED_ACTIVITY,
            failure,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_RECORD_RETRY,
            summary="record the failed delivery",
        )
        return False
