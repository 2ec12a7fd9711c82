"""What the activities of one worker share: the pool, the store, the graphs, and each run's
kwargs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from temporalio.exceptions import ApplicationError

from graphyard.activities.cancel_watch import CancelWatch
from graphyard.activities.step_lock import StepLocks
from graphyard.errors import GraphLoadFailed
from graphyard.graphs import GraphRegistry
from graphyard.runs.kwargs import RunKwargs
from graphyard.storage import runs as run_rows
from graphyard.storage.db import Pool
from graphyard.storage.rows import RunRow
from graphyard.telemetry import metrics
from graphyard.types import RunRef


class WorkerContext:
    """Shared resources of the worker's activities."""

    _CACHE_SIZE = 1024

    def __init__(
        self,
        pool: Pool,
        graphs: GraphRegistry,
        notify_channel: str,
        store: BaseStore,
        step_locks: StepLocks,
        cancels: CancelWatch,
        *,
        trace_nodes: bool = False,
    ) -> None:
        self.pool = pool
        self.step_locks = step_locks
        self.cancels = cancels
        # Tracing is on: each super-step opens a span per node.
        self.trace_nodes = trace_nodes
        self.graphs = graphs
        self.notify_channel = notify_channel
        # One store for every run: over a pool it takes a connection per batch, no shared lock.
        self.store = store
        self._kwargs: OrderedDict[str, RunKwargs] = OrderedDict()

    async def run_kwargs(
        self, run: RunRef, *, start: bool = False, refresh: bool = False
    ) -> RunKwargs:
        """The run's kwargs (cached per worker: they only change when an answer to an
        interrupt asks for other stream modes; ``refresh`` then). ``start`` also marks the run
        ``running``, in the same query."""
        cached = self._kwargs.get(run.run_id)
        if cached is not None and not (start or refresh):
            self._kwargs.move_to_end(run.run_id)
            return cached
        row: RunRow | None
        async with self.pool.connection() as conn:
            if start:
                row = started = await run_rows.mark_running(conn, run.run_id)
                if started is not None and started["queue_wait"] is not None:
                    metrics.QUEUE_WAIT.labels(run.graph_id).observe(started["queue_wait"])
            else:
                row = await run_rows.get(conn, run.run_id)
        if row is None:
            raise ApplicationError(
                f"run {run.run_id} has no row in Postgres", type="RunNotFound", non_retryable=True
            )
        kwargs = RunKwargs.of(row)
        self._kwargs[run.run_id] = kwargs
        if len(self._kwargs) > self._CACHE_SIZE:
            self._kwargs.popitem(last=False)
        return kwargs

    def delivers_webhook(self, kwargs: RunKwargs) -> bool:
        """Whether the run has a webhook to deliver when it ends (``http.disable_webhooks``
        turns them all off)."""
        return kwargs.webhook is not None and not self.graphs.config.project.http.disable_webhooks

    def forget(self, run_id: str) -> None:
        self._kwargs.pop(run_id, None)

    def saver(self) -> AsyncPostgresSaver:
        """A fresh saver over the shared pool. Fresh on purpose: one shared saver serializes
        every run of the process behind its lock."""
        return AsyncPostgresSaver(self.pool)

    @asynccontextmanager
    async def graph(
        self,
        run: RunRef,
        config: RunnableConfig,
        saver: AsyncPostgresSaver | None = None,
        context: Any = None,
    ) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
        """The run's graph bound to ``saver`` (default: a fresh one) and the store, for the
        use's length. A graph that cannot be loaded fails with ``GraphLoadError`` (retried
        unless its definition is at fault)."""
        if run.graph_id not in self.graphs:
            raise ApplicationError(
                f"graph {run.graph_id!r} is not loaded by this worker "
                f"(graphs: {', '.join(self.graphs.graph_ids)})",
                type="GraphNotFound",
                non_retryable=True,
            )
        graph = self.graphs.get(run.graph_id)
        try:
            async with graph.bind(
                config, saver or self.saver(), self.store, "threads.create_run", context
            ) as bound:
                yield bound
        except GraphLoadFailed as exc:
            raise ApplicationError(
                exc.detail, type="GraphLoadError", non_retryable=not exc.retryable
            ) from exc
