"""What the activities of one worker share: the pool, the store, the graphs, and each run's
kwargs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.types import Command, Send
from temporalio.exceptions import ApplicationError

from graphyard.activities.cancel_watch import CancelWatch
from graphyard.activities.step_lock import StepLocks
from graphyard.errors import GraphLoadFailed
from graphyard.graphs import GraphRegistry
from graphyard.runs.users import USER_KEY, as_user
from graphyard.storage import runs as run_rows
from graphyard.storage.db import Pool
from graphyard.telemetry import metrics
from graphyard.types import RunRef


@dataclass(frozen=True)
class RunKwargs:
    """A run's kwargs as the worker uses them; read once from its row, then cached."""

    input: Any
    command: dict[str, Any] | None
    config: dict[str, Any]
    context: dict[str, Any] | None
    interrupt_before: list[str] | str | None
    interrupt_after: list[str] | str | None
    temporary: bool
    checkpoint: dict[str, Any] | None = None
    stream_mode: tuple[str, ...] = ("values",)
    subgraphs: bool = False
    webhook: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunKwargs:
        kw = row["kwargs"]
        return cls(
            input=kw.get("input"),
            command=kw.get("command"),
            config=kw.get("config") or {},
            context=kw.get("context"),
            interrupt_before=kw.get("interrupt_before"),
            interrupt_after=kw.get("interrupt_after"),
            temporary=bool(kw.get("temporary")),
            checkpoint=kw.get("checkpoint"),
            stream_mode=tuple(kw.get("stream_mode") or ("values",)),
            subgraphs=bool(kw.get("subgraphs")),
            webhook=kw.get("webhook"),
        )

    def graph_input(self) -> Any:
        """The first step's input: the command (resume/update/goto) if any, else the input."""
        return command_input(self.command) if self.command else self.input

    def runnable_config(self, run: RunRef, *, fork: bool = False) -> RunnableConfig:
        """The config every step of the run executes with. ``fork``: the first step's, which
        starts from the run's ``checkpoint`` when it names one (time travel)."""
        config = dict(self.config)
        configurable = dict(config.get("configurable") or {})
        configurable.update(thread_id=run.thread_id, run_id=run.run_id, checkpoint_ns="")
        if isinstance(user := configurable.get(USER_KEY), Mapping):
            # Stored as JSON; the graph gets the reference's user (attributes and items).
            configurable[USER_KEY] = as_user(user)
        if fork and self.checkpoint:
            configurable.update(
                {k: v for k, v in self.checkpoint.items() if v is not None and k != "thread_id"}
            )
        config["configurable"] = configurable
        config.setdefault("metadata", {})
        return cast(RunnableConfig, config)

    @property
    def recursion_limit(self) -> int:
        return int(self.config.get("recursion_limit") or 25)


def command_input(command: dict[str, Any]) -> Any:
    """A client's ``{resume?, update?, goto?}`` as LangGraph's input: a ``Command`` (``goto``
    items may be ``{"node", "input"}`` sends), or ``None`` when it says nothing (continue)."""
    goto = command.get("goto")
    if command.get("resume") is None and command.get("update") is None and goto is None:
        return None
    if goto is not None:
        items = goto if isinstance(goto, list) else [goto]
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in items]
    return Command(
        update=command.get("update"),
        resume=command.get("resume"),
        goto=goto if goto is not None else (),
    )


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
        async with self.pool.connection() as conn:
            if start:
                row = await run_rows.mark_running(conn, run.run_id)
                if row is not None and row["queue_wait"] is not None:
                    metrics.QUEUE_WAIT.labels(run.graph_id).observe(row["queue_wait"])
            else:
                row = await run_rows.get(conn, run.run_id)
        if row is None:
            raise ApplicationError(
                f"run {run.run_id} has no row in Postgres", type="RunNotFound", non_retryable=True
            )
        kwargs = RunKwargs.from_row(row)
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
