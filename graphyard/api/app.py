"""``create_app(settings)``: the FastAPI app and its lifespan (Temporal client, pool, graphs,
store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from graphyard import __version__, redaction
from graphyard.api import errors, http_app
from graphyard.api.auth import load_auth
from graphyard.api.auth.openapi import document_security
from graphyard.api.responses import JSON
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, default_assistant_id, load_config
from graphyard.runs.backends import Services
from graphyard.runs.waiter import RunWaiter
from graphyard.storage import assistants as assistant_rows
from graphyard.storage.db import open_pool
from graphyard.storage.migrate import migrate
from graphyard.store import open_store
from graphyard.telemetry import tracing
from graphyard.temporal import check_search_attributes, connect


async def _register_system_assistants(services: Services) -> None:
    async with services.pool.connection() as conn:
        for graph in services.graphs:
            await assistant_rows.ensure_system(
                conn,
                assistant_id=default_assistant_id(graph.graph_id),
                graph_id=graph.graph_id,
                name=graph.name,
                description=graph.description,
            )


def _build_routes(app: FastAPI) -> None:
    """FastAPI builds an included router's routes (their pydantic adapters: 0.27 s for the
    API's) when a request first walks past them, blocking every other request meanwhile. A
    path no route matches walks past all of them: build them before serving."""
    for route in app.router.routes:
        route.matches({"type": "http", "path": "/\0", "root_path": "", "method": "GET"})


def create_app(settings: Settings, graphs: GraphRegistry | None = None) -> FastAPI:
    """The API app. Graphs load here without ``env``: secrets belong to workers."""
    registry = graphs or GraphRegistry(load_config(settings.config_path))
    auth = load_auth(settings, registry.config)
    # The API's own credentials (an embedding provider's key for store.index) are masked in
    # its logs too.
    redaction.register_environment()
    tracing.setup(settings, "graphyard-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(settings, registry.config.project.store)
        temporal = await connect(settings)
        await check_search_attributes(temporal, settings)
        pool = await open_pool(settings)
        waiter = RunWaiter(settings)
        try:
            await waiter.start()
            # The API embeds what it writes and searches too (store.index): it loads the
            # embedding function, and needs its credentials.
            memory = open_store(pool, registry.config.path, registry.config.project.store)
            services = Services(settings, pool, temporal, registry, waiter, memory)
            await _register_system_assistants(services)
            app.state.services = services
            _build_routes(app)
            yield
        finally:
            await waiter.stop()
            await pool.close()

    app = FastAPI(
        title="graphyard",
        version=__version__,
        description="The LangGraph Agent Server API, executed durably on Temporal.",
        default_response_class=JSON,
        lifespan=lifespan,
    )
    errors.install(app)
    document_security(app, auth, registry.config)
    app.state.auth = auth
    # Before the lifespan's services: request bodies are bounded by these (api/routing.py).
    app.state.settings = settings
    routes = http_app.include_routes(app, settings, registry.config.project.http)
    http_app.install(app, settings, registry.config, routes)
    tracing.instrument_app(app, settings)
    return app
