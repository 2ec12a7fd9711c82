"""Waiting for a thread's previous run, so that runs of one thread never overlap."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from graphyard.types import WAIT_ACTIVITY, WaitInput, run_workflow_id


@activity.defn(name=WAIT_ACTIVITY)
async def wait_for_run(inp: WaitInput) -> None:
    """Return once the run's workflow has closed, however it ended (heartbeating meanwhile)."""
    handle = activity.client().get_workflow_handle(run_workflow_id(inp.run_id))
    interval = activity.info().heartbeat_timeout or activity.info().start_to_close_timeout
    beat = max((interval.total_seconds() if interval else 30) / 3, 0.1)
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=beat)
            if done:
                break
            activity.heartbeat()
        with contextlib.suppress(Exception):  # its outcome is not ours to report
            result.result()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    finally:
        result.cancel()
