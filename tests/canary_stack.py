"""An API and a worker as real processes serving tests/graphs/canary.py, whose secret comes
from langgraph.json's ``env`` (a .env file beside it), with their logs and the client's
traffic kept for tests/sinks.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from graphyard.config import Settings
from tests.graphs.canary import SECRET_ENV
from tests.processes import api_process, worker_process
from tests.sinks import Sinks, recording_client

CANARY_GRAPH = Path(__file__).resolve().parent / "graphs" / "canary.py"


def canary_project(folder: Path, secret: str) -> Path:
    """A langgraph.json naming the canary graph, its secret in a .env file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".env").write_text(f"{SECRET_ENV}={secret}\n")
    config = {
        "graphs": {
            "canary": {
                "path": f"{CANARY_GRAPH}:graph",
                "retry": {"max_attempts": 2, "initial_interval_seconds": 0.1, "backoff": 1},
            }
        },
        "env": ".env",
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


@dataclass
class CanaryStack:
    settings: Settings
    client: LangGraphClient
    url: str
    sinks: Sinks
    headers: dict[str, str]


@asynccontextmanager
async def canary_stack(
    settings: Settings,
    temporal: Client,
    folder: Path,
    secret: str,
    env: dict[str, str],
    api_key: str | None = None,
) -> AsyncIterator[CanaryStack]:
    """``graphyard api`` and ``graphyard worker`` (DEBUG logs, ``env`` added) on the canary
    project; the API starts first (it migrates the schema). With ``api_key``, the API takes
    only it (API-key mode) and the client sends it."""
    settings = settings.model_copy(update={"config_path": canary_project(folder, secret)})
    env = {"GRAPHYARD_LOG_LEVEL": "DEBUG", **env}
    headers = {}
    if api_key is not None:
        env["GRAPHYARD_API_KEYS"] = f"ci:{api_key}"
        headers["x-api-key"] = api_key
    api_log, worker_log = folder / "api.log", folder / "worker.log"
    async with api_process(settings, log=api_log, env=env) as (_, url):
        with worker_process(settings, log=worker_log, env=env):
            client, transport = recording_client(url, headers)
            sinks = Sinks(settings, temporal, log_files=[api_log, worker_log], http=[transport])
            try:
                yield CanaryStack(settings, client, url, sinks, headers)
            finally:
                await client.aclose()
