"""What the run service works with: the API builds ``Services`` in its lifespan, a worker builds
``Backends`` (a cron's firing creates its run there)."""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.store.postgres.aio import AsyncPostgresStore
from temporalio.client import Client

from graphyard.config import Settings
from graphyard.graphs import GraphRegistry
from graphyard.runs.waiter import RunWaiter
from graphyard.storage.db import Pool


@dataclass
class Backends:
    """What creating and starting runs needs."""

    settings: Settings
    pool: Pool
    temporal: Client
    graphs: GraphRegistry

    @property
    def default_ttl(self) -> tuple[str, float] | None:
        """``checkpointer.ttl.default_ttl`` of langgraph.json: new threads get it unless the
        request names a TTL."""
        ttl = self.graphs.config.project.checkpointer.ttl
        return (ttl.strategy, ttl.default_ttl) if ttl.default_ttl else None


@dataclass
class Services(Backends):
    """``Backends`` plus what only readers need: the run waiter and the store."""

    waiter: RunWaiter
    store: AsyncPostgresStore
