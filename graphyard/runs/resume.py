"""Answering a run that waits at an interrupt. Three doors lead to the same ``resume`` signal:
a run create that answers (``command``, or no input, on a thread whose run waits), ``POST
/threads/{t}/runs/{r}/resume``, and the Temporal CLI or UI signalling the workflow directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.service import RPCError

from graphyard.errors import Conflict, NotFound, Unavailable
from graphyard.runs.backends import Backends
from graphyard.runs.request import Command, RunCreate
from graphyard.storage import runs as run_rows
from graphyard.storage.rows import Conn, RunRow
from graphyard.types import RESUME_SIGNAL, ResumeInput, run_workflow_id


@dataclass(frozen=True)
class Submitted:
    """A run a request created or resumed. A resumed run streams from ``resumed_from`` on (the
    seq of the ``metadata`` event that opens its new segment)."""

    row: RunRow
    resumed_from: int | None = None


def answers(body: RunCreate) -> bool:
    """Whether a run create on a thread with a waiting run answers it (rather than starting
    over): it carries a command, or no input at all (continue), and no checkpoint to fork."""
    forks = body.checkpoint is not None or body.checkpoint_id is not None
    return (body.command is not None or body.input is None) and not forks


async def answer_waiting_run(
    services: Backends, thread_id: str, body: RunCreate
) -> Submitted | None:
    """Resume the thread's run waiting at an interrupt, if it has one. The continuation
    streams the modes this request asks for and stops at its breakpoints (none if it names
    none), as the reference's new run would."""
    streaming: dict[str, Any] = {
        "interrupt_before": body.interrupt_before,
        "interrupt_after": body.interrupt_after,
    }
    if body.stream_mode is not None:
        modes = body.stream_mode
        streaming["stream_mode"] = [modes] if isinstance(modes, str) else list(modes)
    if body.stream_subgraphs:
        streaming["subgraphs"] = True
    async with services.pool.connection() as conn, conn.transaction():
        waiting = await run_rows.waiting_on_thread(conn, thread_id)
        if waiting is None:
            return None
        submitted = await _claim(conn, waiting, streaming)
    await _signal(services, submitted, body.command)
    return submitted


async def resume_run(
    services: Backends, thread_id: str, run_id: str, command: Command | None
) -> Submitted:
    """``POST /threads/{t}/runs/{r}/resume``: 409 unless the run waits at an interrupt."""
    async with services.pool.connection() as conn, conn.transaction():
        row = await run_rows.get(conn, run_id, thread_id)
        if row is None:
            raise NotFound("Run not found")
        submitted = await _claim(conn, row)
    await _signal(services, submitted, command)
    return submitted


async def _claim(conn: Conn, row: RunRow, kwargs: dict[str, Any] | None = None) -> Submitted:
    """Mark the run running again; exactly one of several concurrent answers wins."""
    run_id = str(row["run_id"])
    seq = await run_rows.resume(conn, run_id, kwargs)
    fresh = await run_rows.get(conn, run_id)
    if seq is None or fresh is None:
        raise Conflict(
            f"Run {run_id} is not waiting at an interrupt (status: {row['status']}); "
            "nothing to resume."
        )
    return Submitted(fresh, seq)


async def _signal(services: Backends, submitted: Submitted, command: Command | None) -> None:
    run_id = str(submitted.row["run_id"])
    answer = (
        ResumeInput(**command.model_dump(include={"resume", "update", "goto"}))
        if command
        else ResumeInput()
    )
    try:
        await services.temporal.get_workflow_handle(run_workflow_id(run_id)).signal(
            RESUME_SIGNAL, answer
        )
    except RPCError as exc:
        # The answer never reached the run: it still waits.
        async with services.pool.connection() as conn:
            await run_rows.unresume(conn, run_id)
        raise Unavailable(f"could not resume run {run_id} on Temporal: {exc.message}") from exc
