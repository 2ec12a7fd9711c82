"""graphyard processes started by tests, to be killed: workers and API servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx

from graphyard.config import Settings
from graphyard.devstack.children import stop_process
from graphyard.devstack.ports import free_port


def worker_env(settings: Settings) -> dict[str, str]:
    versioning = {
        "GRAPHYARD_DEPLOYMENT_NAME": settings.deployment_name,
        "GRAPHYARD_BUILD_ID": settings.build_id,
        "GRAPHYARD_DEPLOYMENT_BOOTSTRAP": str(settings.deployment_bootstrap).lower(),
    }
    return {
        **os.environ,
        **(versioning if settings.deployment_name else {}),
        **(
            {"GRAPHYARD_WORKER_HEALTH_FILE": str(settings.worker_health_file)}
            if settings.worker_health_file
            else {}
        ),
        "GRAPHYARD_CONFIG_PATH": str(settings.config_path),
        "GRAPHYARD_TEMPORAL_ADDRESS": settings.temporal_address,
        "GRAPHYARD_TASK_QUEUE": settings.task_queue,
        "GRAPHYARD_DATABASE_URI": settings.database_uri,
        "GRAPHYARD_DATABASE_SCHEMA": settings.database_schema,
        "GRAPHYARD_STEP_ACTIVITY": settings.step_activity,
    }


@contextmanager
def worker_process(
    settings: Settings, log: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``graphyard worker`` with the settings' environment (its output to ``log``, if given);
    ``env`` adds variables (``PGAPPNAME`` names its database sessions)."""
    with log.open("ab") if log else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "graphyard", "worker"],
            env={**worker_env(settings), **(env or {})},
            stdout=out,
            stderr=out,
        )
    try:
        yield proc
    finally:
        stop_process(proc, 15)


@asynccontextmanager
async def api_process(
    settings: Settings,
    port: int | None = None,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """``graphyard api`` on its own port (or ``port``: where a killed one listened), sharing the
    test's schema and task queue; yields the process and its URL once it answers. Its output
    goes to ``log``, if given; ``env`` adds variables."""
    port = port or free_port()
    env = {
        **worker_env(settings),
        "GRAPHYARD_HOST": "127.0.0.1",
        "GRAPHYARD_PORT": str(port),
        **(env or {}),
    }
    with log.open("ab") if log else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "graphyard", "api"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"graphyard api exited with {proc.returncode}")
                try:
                    if (await http.get("/info")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("graphyard api did not start")
        yield proc, url
    finally:
        stop_process(proc, 15)
