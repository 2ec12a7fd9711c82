"""The stack a test drives, shared by fixtures and tests: the API served in the test's event
loop on the session's Temporal and Postgres (``open_stack``), the ``Stack`` handle with its SQL
helpers, and a Temporal client with graphyard's data converter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from psycopg.rows import dict_row
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.converter import data_converter
from graphyard.graphs import GraphRegistry

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "graphs" / "langgraph.json"


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


@contextmanager
def graph_env(settings: Settings) -> Iterator[None]:
    """The test graphs' side-table connection (tests/graphs/*.py read it from the environment)
    set to the settings' database and schema, and the environment as it was on exit: a test's
    schema must not leak into the next test's in-process workers and subprocesses."""
    names = {
        "GRAPHYARD_DATABASE_URI": settings.database_uri,
        "GRAPHYARD_DATABASE_SCHEMA": settings.database_schema,
    }
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@asynccontextmanager
async def open_stack(
    settings: Settings, graphs: GraphRegistry, temporal: Client
) -> AsyncIterator[Stack]:
    """The API (in this process) on the settings' Temporal, database and schema, with the side
    tables of the test graphs; the environment it sets is restored on exit."""
    with graph_env(settings):
        async with serve_api(settings, graphs) as url:
            stack = Stack(settings, get_client(url=url), temporal, url)
            # Side tables of tests/graphs/counted.py (and others), in the test's schema.
            stack.sql(
                "CREATE TABLE node_runs (thread_id text, node text, at timestamptz DEFAULT now())"
            )
            stack.sql("CREATE TABLE gates (thread_id text PRIMARY KEY)")
            try:
                yield stack
            finally:
                # Release any node a failed test left blocked, so the worker can stop.
                stack.sql("INSERT INTO gates VALUES ('*') ON CONFLICT DO NOTHING")
