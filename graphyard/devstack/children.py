"""A process ``graphyard dev`` supervises (the API, a worker): started, stopped, and restarted
when it dies, after a growing delay while it keeps dying young."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def stop_process(
    proc: subprocess.Popen[Any] | None, timeout: float, sig: int = signal.SIGTERM
) -> None:
    """Ask ``proc`` to stop (``sig``), SIGKILL it if it lingers past ``timeout``; nothing if it
    is gone already."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _copy(source: IO[bytes], log_path: Path) -> None:
    """Each line of ``source`` to ``log_path``, then to stdout, until the child exits."""
    terminal = True
    with source, log_path.open("ab") as log:
        for line in source:
            log.write(line)
            log.flush()
            if terminal:
                try:
                    sys.stdout.buffer.write(line)
                    sys.stdout.buffer.flush()
                except (OSError, ValueError):
                    # Stdout is gone: keep draining the pipe, or the child would block.
                    terminal = False


# A child that dies sooner than this after starting (graph code that does not import, say) is
# restarted after a growing delay, not in a loop that floods its log.
_STABLE_AFTER_S = 30.0
_MAX_BACKOFF_S = 15.0


@dataclass
class Child:
    """A graphyard process (api or worker) that is restarted when it dies."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    # Also copy its output to this process's stdout (the API's request lines, in the terminal).
    echo: bool = False

    def start(self) -> None:
        self.restart_at = None
        self.started_at = time.monotonic()
        if self.echo:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            assert self.proc.stdout is not None
            threading.Thread(
                target=_copy, args=(self.proc.stdout, self.log_path), daemon=True
            ).start()
            return
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def restart_delay(self) -> float:
        """How long to wait before starting again: nothing after a long life, then 0.5 s,
        1 s, 2 s, ... up to ``_MAX_BACKOFF_S`` while it keeps dying young."""
        if time.monotonic() - self.started_at >= _STABLE_AFTER_S:
            self.quick_deaths = 0
            return 0.0
        self.quick_deaths += 1
        return float(min(0.5 * 2 ** (self.quick_deaths - 1), _MAX_BACKOFF_S))

    def stop(self, timeout: float = 15) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, timeout)
