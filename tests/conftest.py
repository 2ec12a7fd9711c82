"""Fixtures: one real Temporal and one real Postgres per test session; each test gets its own
task queue and database schema, and drives the API with the official langgraph-sdk client (the
helpers behind them are in tests/stack.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from graphyard.config import Settings
from graphyard.converter import DATA_CONVERTER
from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import dev_server_args, temporal_binary
from graphyard.graphs import GraphRegistry
from graphyard.types import SEARCH_ATTRIBUTES
from graphyard.worker import running_worker
from tests.stack import TEST_CONFIG, Stack, graphyard_client, open_stack


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
