"""The connection pool. One per process, shared by graphyard's queries and LangGraph's saver."""

from __future__ import annotations

import time
import weakref
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from graphyard.config import Settings
from graphyard.storage.rows import Conn

Pool = AsyncConnectionPool[Conn]


def search_path(settings: Settings) -> str:
    """graphyard's schema first (every table lives there), then the extensions' schema: the
    store's vector type and operators resolve through it."""
    schemas = dict.fromkeys((settings.database_schema, settings.database_extensions_schema))
    return ",".join(schemas)


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """What every connection needs: LangGraph's saver requires autocommit and dict rows.
    Prepared statements are off: measured, they cost the worker more CPU than they save
    Postgres, and a pooler in front of Postgres may not carry them."""
    return {
        "autocommit": True,
        "prepare_threshold": None,
        "row_factory": dict_row,
        "options": f"-c search_path={search_path(settings)}",
    }


class _IdleCheck:
    """Checks (one empty query) a connection leaving the pool if it sat there ``window``
    seconds or more.

    After Postgres restarts each pooled connection is dead; unchecked, each would fail one
    request or one super-step attempt (spending a run's retry budget) before being dropped.
    Checked, a dead one is replaced and callers wait for Postgres to be back. A connection
    returned moments ago has just worked, and every connection has sat idle at least as long as
    the restart took: checking those too cost a round trip per checkout, a fifth of the
    worker's time under load."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()

    async def returned(self, conn: Conn) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: Conn) -> None:
        returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned >= self._window:
            await AsyncConnectionPool.check_connection(conn)


async def open_pool(settings: Settings) -> Pool:
    """Open the pool and wait until it holds its first connection."""
    idle = _IdleCheck(settings.pool_check_after.total_seconds())
    pool: Pool = AsyncConnectionPool(
        settings.database_uri,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs=connection_kwargs(settings),
        connection_class=Conn,
        check=idle.check,
        reset=idle.returned,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return pool


def notify_channel(settings: Settings) -> str:
    """The LISTEN/NOTIFY channel for finished runs (channels are database-wide: schema-scoped)."""
    return f"graphyard_runs_{settings.database_schema}"
