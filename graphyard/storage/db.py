"""The connection pool. One per process, shared by graphyard's queries and LangGraph's saver."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from graphyard.config import Settings

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


def search_path(settings: Settings) -> str:
    """graphyard's schema first (every table lives there), then the extensions' schema: the
    store's vector type and operators resolve through it."""
    schemas = dict.fromkeys((settings.database_schema, settings.database_extensions_schema))
    return ",".join(schemas)


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """What every connection needs: LangGraph's saver requires autocommit and dict rows, and
    prepared statements are off so that a pooler in front of Postgres cannot break them."""
    return {
        "autocommit": True,
        "prepare_threshold": None,
        "row_factory": dict_row,
        "options": f"-c search_path={search_path(settings)}",
    }


async def open_pool(settings: Settings) -> Pool:
    """Open the pool and wait until it holds its first connection.

    Every connection is checked (one empty query) as it leaves the pool: after Postgres
    restarts, each pooled connection is dead, and without the check each would fail one
    request or one super-step attempt (spending a run's retry budget) before being dropped.
    With it, a dead connection is replaced, and callers wait for Postgres to be back."""
    pool: Pool = AsyncConnectionPool(
        settings.database_uri,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs=connection_kwargs(settings),
        connection_class=AsyncConnection[DictRow],
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return pool


def notify_channel(settings: Settings) -> str:
    """The LISTEN/NOTIFY channel for finished runs (channels are database-wide: schema-scoped)."""
    return f"graphyard_runs_{settings.database_schema}"
