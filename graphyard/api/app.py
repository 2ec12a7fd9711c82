"""``create_app(settings)``: the FastAPI app and its lifespan (Temporal client, pool, graphs,
store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from graphyard import __version__, redaction
from graphyard.api import errors
from graphyard.api.auth import Authenticated, load_auth
from graphyard.api.auth.openapi import document_security
from graphyard.api.cors import cors_middleware
from graphyard.api.deps import Services
from graphyard.api.responses import JSON
from graphyard.api.routes import (
    assistant_graphs,
    assistants,
    codec,
    crons,
    dead_runs,
    meta,
    metrics,
    runs,
    state,
    store,
    streams,
    threads,
)
from graphyard.api.waiter import RunWaiter
from graphyard.codec import settings_keys
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import GraphRegistry, default_assistant_id, load_config
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
    app.user_middleware.append(cors_middleware(settings, registry.config.project.http))
    document_security(app, auth, registry.config)
    app.state.auth = auth
    app.include_router(meta.router)
    # Everything but health, info, docs and metrics needs an authenticated caller.
    protected = (assistants, assistant_graphs, threads, state, crons, streams, dead_runs, runs)
    for module in (*protected, store):
        app.include_router(module.router, dependencies=[Authenticated])
    if settings.api_metrics:
        app.include_router(metrics.router)
    if settings.codec_endpoint:
        # The Temporal UI's codec endpoint decrypts payloads: only with keys, and only on purpose.
        if not settings_keys(settings):
            raise ConfigError(
                "GRAPHYARD_CODEC_ENDPOINT needs codec keys (GRAPHYARD_CODEC_KEYS or "
                "GRAPHYARD_CODEC_KEY_FILE)"
            )
        app.include_router(codec.preflight)
        app.include_router(codec.router)
    tracing.instrument_app(app, settings)
    return app
