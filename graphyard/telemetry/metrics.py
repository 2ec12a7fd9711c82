"""Prometheus metrics, each recorded by the process where it happens.

Two registries: the API's (served at ``/metrics`` on the API's port) and the worker's (served
on ``GRAPHYARD_WORKER_METRICS_PORT``). Counters count each event once, in the process that
saw it, so summing a metric over every API (or worker) process is right; ``graphyard_live_runs``
is read from Postgres at each scrape and is the same on every API process (take ``max``).
The Temporal SDK's own metrics (workflow and activity task latencies, polls, RPCs) come from
its runtime, on ``GRAPHYARD_TEMPORAL_METRICS_PORT``.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from graphyard.config import Settings

API = CollectorRegistry(auto_describe=True)
WORKER = CollectorRegistry(auto_describe=True)
for _registry in (API, WORKER):
    ProcessCollector(registry=_registry)
    PlatformCollector(registry=_registry)
    GCCollector(registry=_registry)

# Runs take from milliseconds to days (a run waiting at an interrupt counts its wait).
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)
_WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# The worker's: what runs do.
RUNS_FINISHED = Counter(
    "graphyard_runs_finished",
    "Runs that ended, by graph and final status (success, error, timeout, interrupted).",
    ["graph_id", "status"],
    registry=WORKER,
)
RUN_DURATION = Histogram(
    "graphyard_run_duration_seconds",
    "From a run's creation to its end, by graph and final status (waits included).",
    ["graph_id", "status"],
    buckets=_RUN_BUCKETS,
    registry=WORKER,
)
RUNS_PAUSED = Counter(
    "graphyard_runs_paused",
    "Times a run stopped at an interrupt or breakpoint to wait for an answer.",
    ["graph_id"],
    registry=WORKER,
)
QUEUE_WAIT = Histogram(
    "graphyard_run_queue_wait_seconds",
    "From a run's creation (or retry) to its first super-step (pending to running): its "
    "thread's earlier runs, after_seconds, and waiting for a worker.",
    ["graph_id"],
    buckets=_WAIT_BUCKETS,
    registry=WORKER,
)
STEP_DURATION = Histogram(
    "graphyard_step_duration_seconds",
    "One attempt of a super-step activity, by graph and outcome (continue, done, "
    "interrupted, error, replayed: found done after a crash).",
    ["graph_id", "outcome"],
    buckets=_STEP_BUCKETS,
    registry=WORKER,
)
STEP_RETRIES = Counter(
    "graphyard_step_retries",
    "Super-step attempts after the first (the activity failed or its worker died).",
    ["graph_id"],
    registry=WORKER,
)
STEP_LOCK_WAITS = Counter(
    "graphyard_step_lock_waits",
    "Super-steps that waited for an earlier attempt of their thread's step still running "
    "(a workflow task timed out, or a heartbeat was missed, under load).",
    ["graph_id"],
    registry=WORKER,
)

# The API's: what clients do.
RUNS_CREATED = Counter(
    "graphyard_runs_created",
    "Runs this process created, by graph (API requests; cron firings, in workers).",
    ["graph_id"],
    registry=API,
)
WORKER.register(RUNS_CREATED)
RUNS_RECONCILED = Counter(
    "graphyard_runs_reconciled",
    "Runs ended by a reader because their workflow closed without ending them (terminated "
    "or timed out in Temporal).",
    registry=API,
)
ACTIVE_STREAMS = Gauge(
    "graphyard_active_streams",
    "SSE streams this API process is serving, by kind (run, thread).",
    ["kind"],
    registry=API,
)
LIVE_RUNS = Gauge(
    "graphyard_live_runs",
    "Runs pending, running, or interrupted and waiting for an answer, now (read from "
    "Postgres at scrape time).",
    ["status"],
    registry=API,
)


def serve_worker_metrics(settings: Settings) -> Any | None:
    """The worker's ``/metrics`` on its own port (``None`` when not configured); the result's
    ``shutdown()`` stops it."""
    if settings.worker_metrics_port is None:
        return None
    server, _ = start_http_server(
        settings.worker_metrics_port, addr=settings.metrics_host, registry=WORKER
    )
    return server


_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's Prometheus metrics, one per address and process
    (``None``: the default runtime, no metrics endpoint)."""
    if settings.temporal_metrics_port is None:
        return None
    address = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    with _runtimes_lock:
        if address not in _runtimes:
            config = PrometheusConfig(
                bind_address=address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
            _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=config))
        return _runtimes[address]
