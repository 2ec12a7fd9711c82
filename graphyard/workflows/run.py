"""``RunWorkflow``: one run, one workflow (ID ``run-<run_id>``); each super-step one activity.

The run state machine lives here: ``pending`` (waiting for the thread's previous run, if any)
``-> running -> success | error | interrupted`` (cancelled) ``| timeout``. At an interrupt the
run waits, status ``interrupted``, for the ``resume`` signal (a durable wait: no worker holds
it), then goes on ``running``; an optional deadline ends it ``timeout``. A run that ends
``error`` fails its workflow (a dead letter ``graphyard runs retry`` can start again). Long runs
continue as new every ``steps_per_history`` super-steps. The workflow only sees step summaries
(ids and node names) and the human's answers; state stays in Postgres. Once a run with a
``webhook`` has ended (not at a pause), one more activity delivers it.

For the Temporal UI, each step activity's summary names the nodes it runs, the workflow's
current details show where the run stands, and ``RunStatus`` (a search attribute) follows the
status, for runs started with graphyard's search attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from graphyard.types import (
        CANCEL_SIGNAL,
        FINISH_ACTIVITY,
        RESUME_SIGNAL,
        RUN_CANCELLED,
        RUN_STATUS,
        RUN_WORKFLOW,
        START_SIGNAL,
        STEP_ACTIVITY,
        WAIT_ACTIVITY,
        WEBHOOK_WORKFLOW,
        CancelAction,
        Continuation,
        FinishInput,
        ResumeInput,
        RunError,
        RunInput,
        RunOutcomeSummary,
        RunStatus,
        StepInput,
        StepKind,
        StepResult,
        WaitInput,
        WebhookDelivery,
    )
    from graphyard.workflows.run_records import (
        continuation,
        deadline_error,
        details,
        run_error,
        step_summary,
    )
    from graphyard.workflows.run_signals import cancel_request, resume_answer

# The terminal write must land whatever happens, so it retries without a cap.
_FINISH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
_FINISH_TIMEOUT = timedelta(seconds=60)
_WAIT_TIMEOUT = timedelta(days=30)
_WAIT_HEARTBEAT = timedelta(seconds=30)
# Runs started before this patch end at an interrupt (the reference's way) instead of waiting.
_WAIT_AT_INTERRUPTS = "wait-at-interrupts"
# Runs started before this patch complete (status ``error`` in their result) when they fail.
_FAIL_DEAD_RUNS = "fail-dead-runs"
# Runs started before this patch do not keep their ``RunStatus`` search attribute current.
_TRACK_RUN_STATUS = "track-run-status"
# Runs started before this patch write a cancelled run's end without waiting for its step to
# stop.
_STOP_STEPS = "stop-steps-on-cancel"
# Runs started from this build on take every change above under this one marker: each
# ``patched`` call of a new run records a marker and upserts ``TemporalChangeVersion``, a billable
# action, so a run pays for one instead of four. Older histories still find their own markers.
_CHANGES_2026_12 = "changes-2026-12"
# How long a step stopped for a cancel waits for the ``cancel`` signal that says which one.
_CANCEL_SIGNAL_WAIT = timedelta(seconds=60)


async def _execute(
    kind: StepKind,
    activity: str,
    arg: Any,
    *,
    heartbeat_timeout: timedelta | None = None,
    **options: Any,
) -> Any:
    """Run an activity the way the run's policy says: local (inside the workflow task, no
    heartbeat) or regular."""
    if kind == "local":
        return await workflow.execute_local_activity(activity, arg, **options)
    return await workflow.execute_activity(
        activity, arg, heartbeat_timeout=heartbeat_timeout, **options
    )


def _cancelled_step(err: BaseException) -> bool:
    """Whether a step failed because a client cancelled the run (step.py)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type == RUN_CANCELLED


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Steps a LangGraph run to its end, one super-step activity at a time."""

    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        self._input = inp
        self._refused: str | None = None  # the last signal that could not be applied
        self._status: RunStatus = "running" if inp.continued else "pending"
        self._steps = inp.continued.steps if inp.continued else 0
        self._cancel: CancelAction | None = None
        self._in_flight: asyncio.Task[Any] | None = None
        self._answer: ResumeInput | None = None
        self._spent = inp.continued.spent if inp.continued else 0
        self._released = False
        # The nodes the next step runs, and the interrupts the run waits at (for the UI).
        self._next: list[str] = list(inp.continued.next) if inp.continued else []
        self._interrupts: list[str] = []
        self._tracked = False  # keeps ``RunStatus`` current (set when the run starts)
        self._stops_steps = False  # waits for a cancelled step to stop (set when the run starts)
        self._current: bool | None = None  # started with ``_CHANGES_2026_12`` (``_patched``)

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, *values: Any) -> None:
        """Stop the run: ``interrupt`` keeps what it checkpointed, ``rollback`` deletes it
        (``{"action": ...}`` or the action alone)."""
        # Undecoded (no type hint): an input the dataclass would refuse is seen, not dropped.
        inp = cancel_request(values)
        if isinstance(inp, str):
            self._refuse(CANCEL_SIGNAL, inp)
            return
        self._cancel = self._cancel or inp.action
        if self._in_flight is not None:
            self._in_flight.cancel()

    @workflow.signal(name=START_SIGNAL)
    def start(self) -> None:
        """From the thread's workflow: the runs before this one have ended."""
        self._released = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self, *values: Any) -> None:
        """The answer to the interrupt the run waits at: a command (``{"resume": ...}``,
        ``update``, ``goto``) or the answer itself (run_signals.py). Kept until the run waits
        (a signal can arrive in the same task as the step that paused it)."""
        answer = resume_answer(values)
        if isinstance(answer, str):
            self._refuse(RESUME_SIGNAL, answer)
            return
        self._answer = answer

    def _refuse(self, signal: str, why: str) -> None:
        """A signal that cannot be applied: said in the log and in the UI's current details."""
        workflow.logger.warning(
            "signal %s of %s ignored: %s", signal, workflow.info().workflow_id, why
        )
        self._refused = f"{signal} signal ignored: {why}"
        self._describe(self._input)

    @workflow.query
    def status(self) -> str:
        """The run's status as this workflow sees it (``temporal workflow query --name status``)."""
        return self._status

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcomeSummary:
        expected = inp.continued.expected_checkpoint_id if inp.continued else None
        segment = inp.continued.segment if inp.continued else 0
        answer: ResumeInput | None = None
        waits = self._patched(_WAIT_AT_INTERRUPTS)
        # Only runs started with the search attributes (registered on the server) upsert
        # them: an unregistered one would fail every workflow task.
        started_tagged = workflow.info().typed_search_attributes.get(RUN_STATUS) is not None
        self._tracked = started_tagged and self._patched(_TRACK_RUN_STATUS)
        self._stops_steps = self._patched(_STOP_STEPS)
        self._describe(inp)
        try:
            await self._wait_turn(inp)
            self._set_status(inp, "running")
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
                self._next, self._interrupts = list(result.next), list(result.interrupts)
                if result.outcome == "interrupted" and waits:
                    answer = await self._wait_for_answer(inp)
                    if answer is None and self._cancel is None:
                        return await self._finish(inp, "timeout", deadline_error(inp))
                    segment = self._steps
                    continue
                if result.outcome != "continue":
                    break
                if self._history_full(inp) and self._cancel is None:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    here = Continuation(
                        self._steps, expected, segment, self._spent, list(self._next)
                    )
                    workflow.continue_as_new(continuation(inp, here))
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            # A cancel from the API arrives as our signal; one from Temporal itself (the UI,
            # the CLI, a deleted thread) as CancelledError: both stop the run as interrupted.
            if self._cancel is None and _cancelled_step(err):
                # The step heard the cancel first (from Postgres): its signal follows. (No
                # patch needed: no history before it holds a RunCancelled step.)
                # A Temporal cancel meanwhile (a deleted thread or assistant) is an interrupt too.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await workflow.wait_condition(
                        lambda: self._cancel is not None,
                        timeout=_CANCEL_SIGNAL_WAIT,
                        timeout_summary="cancel signal",
                    )
                self._cancel = self._cancel or "interrupt"
            if self._cancel is None and isinstance(err, asyncio.CancelledError):
                self._cancel = "interrupt"
            if self._cancel is None:
                error = run_error(err, self._steps, self._budget(inp))
                outcome = await self._finish(inp, "error", error)
                if self._patched(_FAIL_DEAD_RUNS):
                    # A dead run's workflow fails: the Temporal UI lists it as Failed, and
                    # ``graphyard runs retry`` may start its ID again (failed IDs only).
                    raise ApplicationError(
                        f"{error.error}: {error.message}",
                        error,
                        type=error.error,
                        non_retryable=True,
                    ) from err
                return outcome
        if self._cancel is not None:
            return await self._finish(inp, "interrupted", None, action=self._cancel)
        # The last step wrote the run's end itself (one activity fewer per run).
        self._set_status(inp, "success")
        await self._deliver_webhook(inp)
        return RunOutcomeSummary(status="success", steps=self._steps)

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, true without a marker of its own for runs started
        with ``_CHANGES_2026_12``."""
        if self._current is None:
            self._current = workflow.patched(_CHANGES_2026_12)
        return self._current or workflow.patched(patch_id)

    def _set_status(self, inp: RunInput, status: RunStatus) -> None:
        """The run's status as the query, the UI's details and ``RunStatus`` show it."""
        self._status = status
        if self._tracked and workflow.info().typed_search_attributes.get(RUN_STATUS) != status:
            workflow.upsert_search_attributes([RUN_STATUS.value_set(status)])
        self._describe(inp)

    def _describe(self, inp: RunInput) -> None:
        """The workflow's current details (Temporal markdown) in the UI and ``describe``."""
        waiting = self._status == "interrupted" and self._cancel is None
        shown = details(inp.run, self._status, self._steps, self._next, self._interrupts, waiting)
        if self._refused is not None:
            shown = f"{shown}\n\n{self._refused}"
        workflow.set_current_details(shown)

    async def _wait_turn(self, inp: RunInput) -> None:
        """Wait out ``after_seconds`` and the thread's runs before this one."""
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
            # The run before it was in flight before the thread's workflow took over (or is a
            # waiting run this one superseded): wait for its workflow to close.
            self._in_flight = asyncio.create_task(self._wait_for(inp.run.after_run_id))
            await self._in_flight

    async def _wait_for_answer(self, inp: RunInput) -> ResumeInput | None:
        """Wait at an interrupt for the ``resume`` signal (or a cancel); ``None`` past the
        deadline."""
        self._set_status(inp, "interrupted")
        try:
            await workflow.wait_condition(
                lambda: self._answer is not None or self._cancel is not None,
                timeout=inp.interrupt_timeout,
                timeout_summary="interrupt deadline",
            )
        except TimeoutError:
            return None
        answer, self._answer = self._answer, None
        self._set_status(inp, "running")
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

    def _history_full(self, inp: RunInput) -> bool:
        """Time to continue as new: this history holds ``steps_per_history`` steps, or
        Temporal suggests it (runs from before the setting never do)."""
        if not inp.steps_per_history:
            return False
        start = inp.continued.steps if inp.continued else 0
        return (
            self._steps - start >= inp.steps_per_history
            or workflow.info().is_continue_as_new_suggested()
        )

    def _budget(self, inp: RunInput) -> int:
        """Attempts the next step may take (0: unlimited)."""
        attempts = inp.policy.max_attempts
        if attempts > 0 and self._spent:
            attempts = max(1, attempts - self._spent)
        return attempts

    async def _step(self, inp: RunInput, step: StepInput) -> StepResult:
        policy = inp.policy
        retry = RetryPolicy(
            initial_interval=policy.initial_interval,
            backoff_coefficient=policy.backoff,
            maximum_attempts=self._budget(inp),
        )
        summary = step_summary(step, self._next)
        self._describe(inp)
        # A cancelled run ends once its step has stopped: nothing it writes comes after.
        stopping = (
            {"cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED}
            if self._stops_steps
            else {}
        )
        result: StepResult = await _execute(
            policy.kind,
            STEP_ACTIVITY,
            step,
            result_type=StepResult,
            start_to_close_timeout=policy.start_to_close,
            heartbeat_timeout=policy.heartbeat,
            retry_policy=retry,
            summary=summary,
            **stopping,
        )
        return result

    async def _finish(
        self,
        inp: RunInput,
        status: RunStatus,
        error: RunError | None,
        action: CancelAction | None = None,
    ) -> RunOutcomeSummary:
        await _execute(
            inp.policy.kind,
            FINISH_ACTIVITY,
            FinishInput(inp.run, status, error, action),
            start_to_close_timeout=_FINISH_TIMEOUT,
            retry_policy=_FINISH_RETRY,
            summary=f"finish: {status}",
        )
        self._set_status(inp, status)
        if action != "rollback":  # a rolled-back run is deleted: nothing to report
            await self._deliver_webhook(inp)
        return RunOutcomeSummary(status=status, steps=self._steps)

    async def _deliver_webhook(self, inp: RunInput) -> None:
        """Hand the ended run to a ``WebhookWorkflow`` of its own (runs without a webhook:
        nothing, not even a command). Detached: this run's workflow closes now, so the
        thread's next run never waits for a slow or dead receiver."""
        if inp.webhook is None:
            return
        await workflow.start_child_workflow(
            WEBHOOK_WORKFLOW,
            WebhookDelivery(inp.run, inp.webhook),
            # One delivery per ending (a run retried from the dead letters ends again).
            id=f"webhook-{inp.run.run_id}-{workflow.info().run_id}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"webhook of run {inp.run.run_id}",
        )
