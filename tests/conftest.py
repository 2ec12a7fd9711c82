"""One real Temporal and one real Postgres per test session; each test gets its own task queue
and database schema, and drives the API with the official langgraph-sdk client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from psycopg.rows import dict_row
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.converter import DATA_CONVERTER, data_converter
from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import dev_server_args, temporal_binary
from graphyard.graphs import GraphRegistry
from graphyard.types import SEARCH_ATTRIBUTES
from graphyard.worker import running_worker

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "graphs" / "langgraph.json"


@pytest.fixture(scope="session")
def postgres_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        dev_server_extra_args=dev_server_args(),
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        port=free_port(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def graphs() -> GraphRegistry:
    return GraphRegistry.from_path(TEST_CONFIG)


@pytest.fixture
def settings(
    postgres_uri: str, temporal_env: WorkflowEnvironment, request: pytest.FixtureRequest
) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    # Parametrized indirectly with a step kind, or with a dict of settings to override.
    param = getattr(request, "param", "local")
    overrides = param if isinstance(param, dict) else {"step_activity": param}
    return Settings(
        config_path=TEST_CONFIG,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"tq-{request.node.name[:40]}-{suffix}",
        database_uri=postgres_uri,
        database_schema=f"t_{suffix}",
        port=free_port(),
        **overrides,
    )


@dataclass
class Stack:
    settings: Settings
    client: LangGraphClient
    temporal: Client
    url: str

    def sql(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        """Run a query in the test's schema (for assertions on rows and side tables)."""
        with psycopg.connect(
            self.settings.database_uri,
            autocommit=True,
            row_factory=dict_row,
            options=f"-c search_path={self.settings.database_schema}",
        ) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    async def wait_rows(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        """Poll ``query`` until it returns rows (a node started, a row moved), up to a minute."""
        for _ in range(1200):
            if rows := self.sql(query, params):
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing matched {query} {params}")


def graphyard_client(temporal_env: WorkflowEnvironment, settings: Settings) -> Client:
    """A client of the session's Temporal with graphyard's data converter for ``settings``
    (the payload codec when they set keys), as the API and workers build theirs."""
    env_client = temporal_env.client
    return Client(
        env_client.service_client,
        namespace=env_client.namespace,
        data_converter=data_converter(settings),
    )


@asynccontextmanager
async def serve_api(settings: Settings, graphs: GraphRegistry) -> AsyncIterator[str]:
    """The API app on a real port (uvicorn), in this event loop."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, graphs),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def open_stack(
    settings: Settings, graphs: GraphRegistry, temporal: Client
) -> AsyncIterator[Stack]:
    """The API (in this process) on the settings' Temporal, database and schema, with the side
    tables of the test graphs."""
    os.environ["GRAPHYARD_DATABASE_URI"] = settings.database_uri
    os.environ["GRAPHYARD_DATABASE_SCHEMA"] = settings.database_schema
    async with serve_api(settings, graphs) as url:
        stack = Stack(settings, get_client(url=url), temporal, url)
        # Side tables of tests/graphs/counted.py (and others), in the test's schema.
        stack.sql(
            "CREATE TABLE node_runs (thread_id text, node text, at timestamptz DEFAULT now())"
        )
        stack.sql("CREATE TABLE gates (thread_id text PRIMARY KEY)")
        yield stack
        # Release any node a failed test left blocked, so the worker can stop.
        stack.sql("INSERT INTO gates VALUES ('*') ON CONFLICT DO NOTHING")


@pytest.fixture
async def api(
    settings: Settings, graphs: GraphRegistry, temporal_env: WorkflowEnvironment
) -> AsyncIterator[Stack]:
    """The API alone: tests start workers themselves (in a subprocess, to kill them)."""
    async with open_stack(settings, graphs, graphyard_client(temporal_env, settings)) as stack:
        yield stack


@pytest.fixture
async def stack(api: Stack, graphs: GraphRegistry) -> AsyncIterator[Stack]:
    """The API and one in-process worker."""
    async with running_worker(api.settings, api.temporal, graphs):
        yield api
        api.sql("INSERT INTO gates VALUES ('*') ON CONFLICT DO NOTHING")
