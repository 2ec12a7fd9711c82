"""``serve(settings)``: uvicorn serving the app, waking once a second when idle.

uvicorn's own main loop wakes ten times a second to check whether it should stop; on an idle API
that was a third of the process's CPU. This one sleeps until a signal asks it to stop or a second
passes (its Date header and request limit are refreshed once a second, as uvicorn's are).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from types import FrameType

import uvicorn

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.storage.listener import woken

_TICK_SECONDS = 1.0
# uvicorn's on_tick refreshes the Date header when its counter is a multiple of 10 (one second
# of its 0.1 s ticks): each of our ticks is a second.
_TICKS_PER_SECOND = 10
_COUNTER_WRAP = 864_000
# What uvicorn.run exits with when the app failed to start (a supervisor tells it from a crash).
_STARTUP_FAILURE = 3


class QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            await woken(self._stop, _TICK_SECONDS)
            counter = (counter + _TICKS_PER_SECOND) % _COUNTER_WRAP

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two bytecodes of the loop's own thread: wake the loop
        # the thread-safe way rather than touch its queues from inside it.
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon_threadsafe(self._stop.set)


def serve(settings: Settings) -> None:
    """Serves until SIGINT or SIGTERM (graceful: requests in flight finish)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's lines go through graphyard's handler (text or JSON).
        log_config=None,
        # graphyard.api.request_log writes one line per request, without the query's values.
        access_log=False,
    )
    server = QuietServer(config)
    server.run()
    if not server.started:
        sys.exit(_STARTUP_FAILURE)
