"""``RunWorkflow``: one run, one workflow (ID ``run-<run_id>``); each super-step one activity.

The run state machine lives here: ``pending`` (waiting for the thread's previous run, if any)
``-> running -> success | error | interrupted`` (cancelled) ``| timeout``. At an interrupt the
run waits, status ``interrupted``, for the ``resume`` signal (a durable wait: no worker holds
it), then goes on ``running``; an optional deadline ends it ``timeout``. The workflow only sees
step summaries (ids and node names) and the human's answers; state stays in Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from graphyard.types import (
        CANCEL_SIGNAL,
        FINISH_ACTIVITY,
        RESUME_SIGNAL,
        RUN_WORKFLOW,
        START_SIGNAL,
        STEP_ACTIVITY,
        WAIT_ACTIVITY,
        CancelAction,
        CancelInput,
        FinishInput,
        ResumeInput,
        RunError,
        RunInput,
        RunOutcomeSummary,
        RunStatus,
        StepInput,
        StepResult,
        WaitInput,
    )

# The terminal write must land whatever happens, so it retries without a cap.
_FINISH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
_FINISH_TIMEOUT = timedelta(seconds=60)
_WAIT_TIMEOUT = timedelta(days=30)
_WAIT_HEARTBEAT = timedelta(seconds=30)
# Runs started before this patch end at an interrupt (the reference's way) instead of waiting.
_WAIT_AT_INTERRUPTS = "wait-at-interrupts"


def _deadline_error(inp: RunInput) -> RunError:
    return RunError(
        error="TimeoutError",
        message=f"no answer to the interrupt within {inp.interrupt_timeout}",
    )


def _run_error(err: BaseException) -> RunError:
    # Regular activities fail with ActivityError(cause=...); local ones with the cause itself.
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return RunError(error=cause.type or "Error", message=cause.message)
    if isinstance(cause, TemporalTimeoutError):
        return RunError(error="TimeoutError", message=f"super-step timed out ({cause.type})")
    return RunError(error=type(cause).__name__ if cause else "Error", message=str(cause or err))


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Steps a LangGraph run to its end, one super-step activity at a time."""

    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        self._status: RunStatus = "pending"
        self._steps = 0
        self._cancel: CancelAction | None = None
        self._in_flight: asyncio.Task[Any] | None = None
        self._answer: ResumeInput | None = None
        self._spent = 0
        self._released = False

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, inp: CancelInput) -> None:
        """Stop the run: ``interrupt`` keeps what it checkpointed, ``rollback`` deletes it."""
        self._cancel = self._cancel or inp.action
        if self._in_flight is not None:
            self._in_flight.cancel()

    @workflow.signal(name=START_SIGNAL)
    def start(self) -> None:
        """From the thread's workflow: the runs before this one have ended."""
        self._released = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self, inp: ResumeInput) -> None:
        """The answer to the interrupt the run waits at. Kept until the run waits (a signal can
        arrive in the same task as the step that paused it)."""
        self._answer = inp

    @workflow.query
    def status(self) -> str:
        """The run's status as this workflow sees it (``temporal workflow query --name status``)."""
        return self._status

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcomeSummary:
        expected: str | None = None
        answer: ResumeInput | None = None
        segment = 0
        waits = workflow.patched(_WAIT_AT_INTERRUPTS)
        try:
            if inp.delay:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._cancel is not None,
                        timeout=inp.delay,
                        timeout_summary="after_seconds",
                    )
            if inp.queued:
                await workflow.wait_condition(lambda: self._released or self._cancel is not None)
            elif inp.run.after_run_id is not None and self._cancel is None:
                # The run before it was in flight before the thread's workflow took over (or
                # is a waiting run this one superseded): wait for its workflow to close.
                self._in_flight = asyncio.create_task(self._wait_for(inp.run.after_run_id))
                await self._in_flight
            self._status = "running"
            while self._cancel is None:
                step = StepInput(inp.run, self._steps, expected, answer, waits, segment)
                self._in_flight = asyncio.create_task(self._step(inp, step))
                result = await self._in_flight
                self._in_flight = None
                self._steps += 1
                # Attempts a half-done step spent before one found it done count against the
                # step that finishes its work.
                self._spent = result.attempt - 1 if result.replayed else 0
                expected, answer = result.checkpoint_id, None
                if result.outcome == "interrupted" and waits:
                    answer = await self._wait_for_answer(inp)
                    if answer is None and self._cancel is None:
                        return await self._finish(inp, "timeout", _deadline_error(inp))
                    segment = self._steps
                    continue
                if result.outcome != "continue":
                    break
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            # A cancel from the API arrives as our signal; one from Temporal itself (the UI,
            # the CLI, a deleted thread) as CancelledError: both stop the run as interrupted.
            if self._cancel is None and isinstance(err, asyncio.CancelledError):
                self._cancel = "interrupt"
            if self._cancel is None:
                return await self._finish(inp, "error", _run_error(err))
        if self._cancel is not None:
            return await self._finish(inp, "interrupted", None, action=self._cancel)
        # The last step wrote the run's end itself (one activity fewer per run).
        self._status = "success"
        return RunOutcomeSummary(status="success", steps=self._steps)

    async def _wait_for_answer(self, inp: RunInput) -> ResumeInput | None:
        """Wait at an interrupt for the ``resume`` signal (or a cancel); ``None`` past the
        deadline."""
        self._status = "interrupted"
        try:
            await workflow.wait_condition(
                lambda: self._answer is not None or self._cancel is not None,
                timeout=inp.interrupt_timeout,
                timeout_summary="interrupt deadline",
            )
        except TimeoutError:
            return None
        answer, self._answer = self._answer, None
        self._status = "running"
        return answer

    async def _wait_for(self, run_id: str) -> None:
        """Wait for the thread's previous run: runs of one thread never overlap."""
        await workflow.execute_activity(
            WAIT_ACTIVITY,
            WaitInput(run_id),
            start_to_close_timeout=_WAIT_TIMEOUT,
            heartbeat_timeout=_WAIT_HEARTBEAT,
            retry_policy=_FINISH_RETRY,
            summary=f"wait for run {run_id}",
        )

    async def _step(self, inp: RunInput, step: StepInput) -> StepResult:
        policy = inp.policy
        attempts = policy.max_attempts
        if attempts > 0 and self._spent:
            attempts = max(1, attempts - self._spent)
        retry = RetryPolicy(
            initial_interval=policy.initial_interval,
            backoff_coefficient=policy.backoff,
            maximum_attempts=attempts,
        )
        summary = f"step {step.index}"
        if policy.kind == "local":
            local: StepResult = await workflow.execute_local_activity(
                STEP_ACTIVITY,
                step,
                result_type=StepResult,
                start_to_close_timeout=policy.start_to_close,
                retry_policy=retry,
                summary=summary,
            )
            return local
        regular: StepResult = await workflow.execute_activity(
            STEP_ACTIVITY,
            step,
            result_type=StepResult,
            start_to_close_timeout=policy.start_to_close,
            heartbeat_timeout=policy.heartbeat,
            retry_policy=retry,
            summary=summary,
        )
        return regular

    async def _finish(
        self,
        inp: RunInput,
        status: RunStatus,
        error: RunError | None,
        action: CancelAction | None = None,
    ) -> RunOutcomeSummary:
        finish = FinishInput(inp.run, status, error, action)
        if inp.policy.kind == "local":
            await workflow.execute_local_activity(
                FINISH_ACTIVITY,
                finish,
                start_to_close_timeout=_FINISH_TIMEOUT,
                retry_policy=_FINISH_RETRY,
                summary=f"finish: {status}",
            )
        else:
            await workflow.execute_activity(
                FINISH_ACTIVITY,
                finish,
                start_to_close_timeout=_FINISH_TIMEOUT,
                retry_policy=_FINISH_RETRY,
                summary=f"finish: {status}",
            )
        self._status = status
        return RunOutcomeSummary(status=status, steps=self._steps)
