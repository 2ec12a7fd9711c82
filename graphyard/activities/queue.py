"""Waiting for a run in flight, so that runs of one thread never overlap (``ThreadWorkflow``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from graphyard.storage import runs as run_rows
from graphyard.storage.db import Pool
from graphyard.storage.statuses import is_live
from graphyard.types import WAIT_ACTIVITY, WaitInput, run_workflow_id

# A live run's workflow is normally started milliseconds after its row is written; one still
# missing after this long is lost (its API died first) and is started again when read
# (runs/reconcile.py), behind whatever its thread runs then.
_START_GRACE = timedelta(seconds=30)
_POLL = 0.05, 1.0  # first and longest pause between looks for a workflow not started yet


class QueueActivities:
    """Waits for runs, bound to the worker's pool."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name=WAIT_ACTIVITY)
    async def wait_for_run(self, inp: WaitInput) -> None:
        """Return once the run's workflow has closed, however it ended (heartbeating
        meanwhile); a run whose row was written but whose workflow is not started yet is
        waited for until it starts."""
        interval = activity.info().heartbeat_timeout or activity.info().start_to_close_timeout
        beat = max((interval.total_seconds() if interval else 30) / 3, 0.1)
        handle = activity.client().get_workflow_handle(run_workflow_id(inp.run_id))
        pause = _POLL[0]
        while True:
            try:
                await handle.describe()
                break
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
            if not await self._starting(inp.run_id):
                return
            activity.heartbeat()
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL[1])
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

    async def _starting(self, run_id: str) -> bool:
        """Whether the run's row says its workflow is about to start: live, and young."""
        async with self.pool.connection() as conn:
            row = await run_rows.get(conn, run_id)
        if row is None or not is_live(row):
            return False
        created: datetime = row["created_at"]
        return datetime.now(UTC) - created < _START_GRACE
