"""What ``RunWorkflow`` records, as pure functions: a step's summary line, its current
details, a failed run's error record, the input of a run's next history."""

from __future__ import annotations

from dataclasses import replace

from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from graphyard.types import (
    ACTIVE_STATUSES,
    Continuation,
    RunError,
    RunInput,
    RunRef,
    RunStatus,
    StepInput,
    run_workflow_id,
)

# How many node names a step's summary lists before it says how many more.
_SUMMARY_NODES = 6


def step_summary(step: StepInput, nodes: list[str]) -> str:
    """``step 3: agent, tools``: the line the Temporal UI shows for a super-step."""
    if step.index == 0 and not nodes:
        return "step 0: input"
    names = list(dict.fromkeys(nodes))  # a node sent to twice runs in one step
    listed = ", ".join(names[:_SUMMARY_NODES])
    if len(names) > _SUMMARY_NODES:
        listed += f" +{len(names) - _SUMMARY_NODES} more"
    summary = f"step {step.index}: {listed}" if listed else f"step {step.index}"
    return summary + " (resumed)" if step.command is not None else summary


def deadline_error(inp: RunInput) -> RunError:
    return RunError(
        error="TimeoutError",
        message=f"no answer to the interrupt within {inp.interrupt_timeout}",
    )


def run_error(err: BaseException, step: int, budget: int) -> RunError:
    """The dead-letter record of a failed super-step: what failed, where, after how many
    attempts (the step activity reports its attempt; a timeout spent the whole budget)."""
    # Regular activities fail with ActivityError(cause=...); local ones with the cause itself.
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        attempts = details.get("attempt") if isinstance(details, dict) else None
        return RunError(cause.type or "Error", cause.message, step, attempts)
    exhausted = budget if budget > 0 else None
    if isinstance(cause, TemporalTimeoutError):
        message = f"super-step timed out ({cause.type})"
        return RunError("TimeoutError", message, step, exhausted)
    name = type(cause).__name__ if cause else "Error"
    return RunError(name, str(cause or err), step, None)


def continuation(inp: RunInput, here: Continuation) -> RunInput:
    """The input of the run's next history: no more waiting for its turn."""
    return replace(
        inp, run=replace(inp.run, after_run_id=None), queued=False, delay=None, continued=here
    )


def details(
    run: RunRef,
    status: RunStatus,
    steps: int,
    next_nodes: list[str],
    interrupts: list[str],
    waiting: bool,
) -> str:
    """The run workflow's current details (Temporal markdown): where it stands, and for a
    run waiting at an interrupt how to answer it."""
    lines = [
        f"**{status}** · step {steps} · graph `{run.graph_id}`",
        f"thread `{run.thread_id}` · assistant `{run.assistant_id}`",
    ]
    if waiting:
        at = ", ".join(f"`{i}`" for i in interrupts) or "a breakpoint"
        lines.append(f"waiting at {at} before {', '.join(next_nodes) or 'the end'}")
        lines.append(
            f"answer: `temporal workflow signal --workflow-id {run_workflow_id(run.run_id)}"
            """ --name resume --input '{"resume": ...}'` (or the answer alone: `'"yes"'`)"""
        )
    elif status in ACTIVE_STATUSES and next_nodes:
        lines.append(f"next: {', '.join(dict.fromkeys(next_nodes))}")
    return "\n\n".join(lines)
