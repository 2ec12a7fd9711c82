"""Wakes requests waiting for runs to end or streams to grow, from Postgres ``LISTEN/NOTIFY``.

One listening connection per API process. A notification is a list of keys (a run id when the
run ended, ``ev:<run_id>`` and ``th:<thread_id>`` when events were appended) and only a wake-up
call: waiters always re-read Postgres, and re-check on every keep-alive tick, so a lost
notification (a dropped connection, a restart) costs a few seconds, never a hung request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from graphyard.config import Settings
from graphyard.storage import wake
from graphyard.storage.listener import Listener, woken
from graphyard.storage.rows import RunRow
from graphyard.types import TERMINAL_STATUSES

log = logging.getLogger(__name__)

RowFetcher = Callable[[], Awaitable[RunRow | None]]


@dataclass(frozen=True)
class Done:
    """The run ended (``row``) or vanished (``None``)."""

    row: RunRow | None


class RunWaiter(Listener):
    """Tracks which requests wait for which runs."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "graphyard-run-waiter")

    async def until_done(
        self, run_id: str, fetch: RowFetcher, tick: float, *, settled: bool = False
    ) -> AsyncIterator[Done | None]:
        """Yield ``None`` every ``tick`` seconds while the run is live (a keep-alive chance),
        then ``Done``. A run waiting at an interrupt is done, unless ``settled`` asks for its
        end."""
        with self.subscribe(wake.run_ended(run_id)) as event:
            while True:
                row = await fetch()
                if row is None or (
                    row["status"] in TERMINAL_STATUSES and not (settled and row.get("waiting"))
                ):
                    yield Done(row)
                    return
                await woken(event, tick)
                if not event.is_set():
                    yield None
                event.clear()
