"""Stopping runs: the ``cancel`` signal to a run's workflow, or to its thread's workflow when
the run's own does not exist yet."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.service import RPCError, RPCStatusCode

from graphyard.runs.backends import Backends
from graphyard.storage import runs as run_rows
from graphyard.storage.db import notify_channel
from graphyard.types import (
    CANCEL_SIGNAL,
    CancelAction,
    CancelInput,
    run_workflow_id,
    thread_workflow_id,
)

# Cancels started for clients that went away; kept referenced until they finish.
_BACKGROUND_CANCELS: set[asyncio.Task[None]] = set()


def cancel_in_background(services: Backends, run_id: str, thread_id: str) -> None:
    """``on_disconnect=cancel``: stop the run, off the request that is going away."""
    task = asyncio.create_task(cancel_run(services, run_id, "interrupt", thread_id=thread_id))
    _BACKGROUND_CANCELS.add(task)
    task.add_done_callback(_BACKGROUND_CANCELS.discard)


async def cancel_run(
    services: Backends, run_id: str, action: CancelAction, *, thread_id: str | None = None
) -> None:
    """Ask a run's workflow to stop (a no-op for a run that has closed meanwhile). A run
    whose workflow its thread's workflow has not started yet is cancelled through that."""
    # First, so that the step in flight, told to stop, knows the stop is meant (step.py).
    async with services.pool.connection() as conn:
        await run_rows.request_cancel(conn, [run_id], notify_channel(services.settings))
    handle = services.temporal.get_workflow_handle(run_workflow_id(run_id))
    try:
        await handle.signal(CANCEL_SIGNAL, CancelInput(action=action))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND or thread_id is None:
            return
        thread = services.temporal.get_workflow_handle(thread_workflow_id(thread_id))
        with contextlib.suppress(RPCError):
            await thread.signal(CANCEL_SIGNAL, CancelInput(action=action, run_id=run_id))
