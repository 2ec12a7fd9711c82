"""The only place that wires workflows, activities and the data converter into a Temporal worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from graphyard import maintenance, redaction
from graphyard.activities import all_activities
from graphyard.activities.cancel_watch import CancelWatch
from graphyard.activities.context import WorkerContext
from graphyard.activities.step_lock import StepLocks
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, apply_env, load_config
from graphyard.runs.backends import Backends
from graphyard.storage.db import notify_channel, open_pool
from graphyard.storage.migrate import migrate
from graphyard.store import open_store
from graphyard.telemetry import logs, metrics, tracing
from graphyard.temporal import check_search_attributes, connect
from graphyard.versioning import deployment_config, make_current, worker_version
from graphyard.workflows import ALL_WORKFLOWS, versioned_workflows

log = logging.getLogger(__name__)

_HEALTH_INTERVAL = 5.0


def load_worker_graphs(settings: Settings) -> GraphRegistry:
    """The worker's graphs, with ``env`` applied first: graph secrets live in workers only.
    Their values (and those of the process environment's secret-looking variables) are masked
    wherever graphyard records text: logs, run errors, Temporal failures, stream events."""
    config = load_config(settings.config_path)
    redaction.register_secrets(apply_env(config))
    redaction.register_environment()
    return GraphRegistry(config)


@asynccontextmanager
async def running_worker(
    settings: Settings, client: Client, graphs: GraphRegistry, **options: Any
) -> AsyncIterator[Worker]:
    """A polling worker for the settings' task queue, stopped (gracefully) on exit, with its
    metrics endpoint when configured; a version of its Worker Deployment when
    ``deployment_name`` is set. ``options`` go to ``temporalio.worker.Worker`` (tests use
    ``max_cached_workflows=0``). Tracing interceptors come with the client."""
    version = worker_version(settings, graphs.config)
    if version is not None:
        options = {
            "workflows": versioned_workflows(),
            "deployment_config": deployment_config(version),
            **options,
        }
    else:
        options = {"workflows": ALL_WORKFLOWS, **options}
    pool = await open_pool(settings)
    step_locks = StepLocks(settings)
    cancels = CancelWatch(settings)
    metrics_server = None
    try:
        await cancels.start()
        store = open_store(pool, graphs.config.path, graphs.config.project.store)
        ctx = WorkerContext(
            pool,
            graphs,
            notify_channel(settings),
            store,
            step_locks,
            cancels,
            trace_nodes=tracing.enabled(settings),
        )
        interceptors = [logs.RunContextInterceptor(), *options.pop("interceptors", [])]
        options.setdefault("max_cached_workflows", settings.max_cached_workflows)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
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
        await cancels.stop()
        await step_locks.close()
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
    version = worker_version(settings, graphs.config)
    async with running_worker(settings, client, graphs):
        log.info(
            "worker polling task queue %s (graphs: %s; %s)",
            settings.task_queue,
            ", ".join(graphs.graph_ids),
            f"deployment {version.deployment_name}, build {version.build_id}"
            if version
            else "unversioned",
        )
        if settings.worker_metrics_port is not None:
            log.info(
                "worker metrics on http://%s:%s/metrics",
                settings.metrics_host,
                settings.worker_metrics_port,
            )
        tasks = [asyncio.create_task(_touch_health_file(settings.worker_health_file))]
        if version is not None and settings.deployment_bootstrap:
            tasks.append(asyncio.create_task(_bootstrap(client, settings, version)))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            if settings.worker_health_file is not None:
                settings.worker_health_file.unlink(missing_ok=True)


async def _bootstrap(client: Client, settings: Settings, version: WorkerDeploymentVersion) -> None:
    """A first rollout: this build becomes current unless another already is."""
    name, build_id = version.deployment_name, version.build_id
    try:
        current = await make_current(
            client, settings.temporal_namespace, version, only_if_none=True
        )
    except Exception:
        # The worker still serves the runs pinned to it; an operator can set it current.
        log.exception("could not make build %s the current build of %s", build_id, name)
        return
    if current == build_id:
        log.info("build %s is the current build of %s", build_id, name)
    else:
        log.info(
            "the current build of %s is %s: build %s takes new runs once "
            "`graphyard deploy set-current %s` (or a ramp) sends them",
            name,
            current,
            build_id,
            build_id,
        )


async def _touch_health_file(path: Path | None) -> None:
    """For an exec probe: the file's age says the worker's event loop is alive and polling
    started (it is first written once the worker polls)."""
    if path is None:
        return
    while True:
        path.touch()
        await asyncio.sleep(_HEALTH_INTERVAL)
