"""Hears, in a worker process, that a client asked to stop a run (``cancel_requested_at``).

Temporal tells a step it is cancelled late: a local step's workflow task is open while the step
runs, so the ``cancel`` signal reaches the workflow only once the step has ended; a regular
step learns it in the answer to a heartbeat, which the SDK sends at most every 80% of the
heartbeat timeout. The API therefore also notifies ``cancel:<run_id>`` on the runs' channel when
it records the request (storage/runs.py ``request_cancel``); one ``LISTEN`` connection per
worker process wakes the run's step, which re-reads the row before it stops (a notification is
only a wake-up call; storage/listener.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from graphyard.config import Settings
from graphyard.storage import wake
from graphyard.storage.listener import Listener

# Cancels heard lately: a step that subscribes just after its run's notification (between two
# steps) still hears it.
_RECENT = 4096


class CancelWatch:
    """Per-run wake-ups for the cancels clients asked for."""

    def __init__(self, settings: Settings) -> None:
        self._listener = Listener(settings, "graphyard-cancel-watch", recent=_RECENT)

    async def start(self) -> None:
        """Listen (returns once listening, or after 30 s: Temporal's cancel still works)."""
        with contextlib.suppress(TimeoutError):
            await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set when a cancel of ``run_id`` may have been asked for."""
        with self._listener.subscribe(wake.cancel(run_id)) as event:
            yield event
