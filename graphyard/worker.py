"""The only place that wires workflows, activities and the data converter into a Temporal worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from graphyard import maintenance
from graphyard.activities import all_activities
from graphyard.activities.context import WorkerContext
from graphyard.api.deps import Backends
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, apply_env, load_config
from graphyard.storage.db import notify_channel, open_pool
from graphyard.storage.migrate import migrate
from graphyard.store import open_store
from graphyard.telemetry import logs, metrics, tracing
from graphyard.temporal import check_search_attributes, connect
from graphyard.workflows import ALL_WORKFLOWS

log = logging.getLogger(__name__)


def load_worker_graphs(settings: Settings) -> GraphRegistry:
    """The worker's graphs, with ``env`` applied first: graph secrets live in workers only."""
    config = load_config(settings.config_path)
    logs.register_secrets(apply_env(config))
    return GraphRegistry(config)


@asynccontextmanager
async def running_worker(
    settings: Settings, client: Client, graphs: GraphRegistry, **options: Any
) -> AsyncIterator[Worker]:
    """A polling worker for the settings' task queue, stopped (gracefully) on exit, with its
    metrics endpoint when configured. ``options`` go to ``temporalio.worker.Worker`` (tests
    use ``max_cached_workflows=0``). Tracing interceptors come with the client."""
    pool = await open_pool(settings)
    metrics_server = None
    try:
        store = open_store(pool, graphs.config.path, graphs.config.project.store)
        ctx = WorkerContext(
            pool,
            graphs,
            notify_channel(settings),
            store,
            trace_nodes=tracing.enabled(settings),
        )
        interceptors = [logs.RunContextInterceptor(), *options.pop("interceptors", [])]
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=ALL_WORKFLOWS,
            activities=all_activities(ctx, Backends(settings, pool, client, graphs)),
            # The workflows import only temporalio.workflow and wire types (deterministic by
            # construction, guarded by replay tests); the sandbox re-imports them for every run,
            # which measured ~29 ms of worker CPU per 10-step run.
            workflow_runner=UnsandboxedWorkflowRunner(),
            sticky_queue_schedule_to_start_timeout=settings.sticky_schedule_to_start_timeout,
            interceptors=interceptors,
            **options,
        )
        metrics_server = metrics.serve_worker_metrics(settings)
        housekeeping = maintenance.start(settings, graphs.config.project, pool, store)
        try:
            async with worker:
                yield worker
        finally:
            for task in housekeeping:
                task.cancel()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await pool.close()


async def serve(settings: Settings) -> None:
    """``graphyard worker``: run until SIGINT/SIGTERM."""
    graphs = load_worker_graphs(settings)
    tracing.setup(settings, "graphyard-worker")
    await migrate(settings, graphs.config.project.store)
    client = await connect(settings)
    await check_search_attributes(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(settings, client, graphs):
        log.info(
            "worker polling task queue %s (graphs: %s)",
            settings.task_queue,
            ", ".join(graphs.graph_ids),
        )
        if settings.worker_metrics_port is not None:
            log.info(
                "worker metrics on http://%s:%s/metrics",
                settings.metrics_host,
                settings.worker_metrics_port,
            )
        await stop.wait()
