"""When a super-step in flight stops, and how.

A client's cancel is heard from Postgres (cancel_watch.py) and stops the nodes in flight at
once: the step fails with ``RunCancelled`` and the workflow, which may not have its ``cancel``
signal yet (a local step holds its workflow task open), waits for it.

Temporal also cancels a local step whose workflow task it took away (timed out under load: the
run goes on from a replay, whose own attempt of this step waits for this one's lock, see
step_lock.py). Cut short, this attempt's nodes would run again in that one; finished, they run
once and the other attempt finds the thread moved on. A worker shutting down or a step past its
timeout still stops at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from graphyard.activities.context import WorkerContext
from graphyard.storage import runs as run_rows
from graphyard.types import RUN_CANCELLED, RunRef, StepInput, StepResult

log = logging.getLogger(__name__)


async def unless_stopped(
    ctx: WorkerContext, inp: StepInput, step: Coroutine[Any, Any, StepResult]
) -> StepResult:
    """Run ``step``, stopped by a cancel only when the run is being stopped."""
    work = asyncio.create_task(step)
    asked = asyncio.create_task(_cancel_asked(ctx, inp.run))
    try:
        # Not cancelled with this wait: the work goes on unless told below.
        await asyncio.wait({work, asked}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        forced = details is not None and (details.worker_shutdown or details.timed_out)
        if forced or await _stop_wanted(ctx, inp.run):
            await _stop(work)
            raise
        log.warning(
            "step %d of run %s lost its workflow task; finishing it so that its nodes run once",
            inp.index,
            inp.run.run_id,
        )
        return await work
    finally:
        asked.cancel()
    if work.done():
        return work.result()
    await _stop(work)
    raise ApplicationError(
        f"run {inp.run.run_id} was cancelled",
        {"step": inp.index, "attempt": activity.info().attempt},
        type=RUN_CANCELLED,
        non_retryable=True,
    )


async def _stop(work: asyncio.Task[StepResult]) -> None:
    """Cancel the step's work and let it unwind (its lock given back, nothing more written)
    before the run's end is written; a node that will not stop is left behind after 5 s."""
    work.cancel()
    await asyncio.wait({work}, timeout=5)
    if work.done() and not work.cancelled():
        work.exception()  # retrieved: the step is stopped whatever the work said last


async def _cancel_asked(ctx: WorkerContext, run: RunRef) -> None:
    """Returns once a client asked to stop the run (never if nobody does)."""
    with ctx.cancels.subscribe(run.run_id) as woken:
        while True:
            await woken.wait()
            woken.clear()
            try:
                async with ctx.pool.connection() as conn:
                    if await run_rows.cancel_requested(conn, run.run_id):
                        return
            except Exception as exc:  # Temporal's cancel still reaches the step
                log.warning("could not read the cancel of run %s: %s", run.run_id, exc)


async def _stop_wanted(ctx: WorkerContext, run: RunRef) -> bool:
    try:
        async with ctx.pool.connection() as conn:
            return await run_rows.cancel_requested(conn, run.run_id)
    except Exception:  # cannot tell: stop, as asked
        return True
