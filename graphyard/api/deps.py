"""What routes depend on: one ``Services`` object per app, built in the lifespan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from langgraph.store.postgres.aio import AsyncPostgresStore
from temporalio.client import Client

from graphyard.api.run_headers import configurable_headers
from graphyard.api.waiter import RunWaiter
from graphyard.config import Settings
from graphyard.errors import Unprocessable
from graphyard.graphs import GraphRegistry
from graphyard.storage.db import Pool


@dataclass
class Backends:
    """What creating and starting runs needs: the API has it, and so has a worker (a cron's
    firing creates its run there)."""

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
    waiter: RunWaiter
    store: AsyncPostgresStore


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(_services)]
# The request headers langgraph.json's http.configurable_headers copies into a run's config.
RunHeaders = Annotated[dict[str, str], Depends(configurable_headers)]
# Path ids are UUIDs (documented as such; ``check_uuid`` gives the reference's 422 message).
ThreadId = Annotated[
    str, Path(description="The thread's UUID.", json_schema_extra={"format": "uuid"})
]
RunId = Annotated[str, Path(description="The run's UUID.", json_schema_extra={"format": "uuid"})]


def check_uuid(value: str, what: str) -> str:
    """Path ids must be UUIDs: 422 ``Invalid <what> ID: must be a UUID`` otherwise."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Unprocessable(f"Invalid {what} ID: must be a UUID") from None
