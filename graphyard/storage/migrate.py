"""Bring a database up to date: graphyard's tables (Alembic), LangGraph's checkpoint tables and
its store's tables.

Safe to run from every API and worker process at start-up: an advisory lock serializes them.
It is waited for by trying it, never by blocking on it: LangGraph's migrations build indexes
``CONCURRENTLY``, which wait for every older snapshot, and a process blocked on the lock holds
one: the holder and the waiter would each wait for the other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection

from graphyard.config import Settings
from graphyard.storage.db import connection_kwargs
from graphyard.storage.rows import Conn
from graphyard.store import StoreConfig, setup_store

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x67726170  # "grap": one key for every graphyard migration
_LOCK_POLL_MAX = 0.5


def _sqlalchemy_url(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    return f"{scheme}{sep}{rest}"


def _upgrade(settings: Settings) -> None:
    schema = settings.database_schema
    engine = sa.create_engine(
        _sqlalchemy_url(settings.database_uri),
        connect_args={"options": f"-c search_path={schema}"},
        poolclass=sa.pool.NullPool,
    )
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            cfg = Config(str(MIGRATIONS / "alembic.ini"))
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            cfg.attributes["schema"] = schema
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


async def migrate(settings: Settings, store: StoreConfig | None = None) -> None:
    """Create the schema if needed and apply every pending migration. ``store`` (langgraph.json's
    ``store``) says whether the store needs its vector table, and of which size."""
    kwargs = connection_kwargs(settings)
    async with await AsyncConnection.connect(settings.database_uri, **kwargs) as conn:
        await _lock(conn)
        try:
            await asyncio.to_thread(_upgrade, settings)
            # LangGraph's saver and store run their own versioned migrations.
            await AsyncPostgresSaver(conn).setup()
            await setup_store(conn, store or StoreConfig(), settings)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


async def _lock(conn: Conn) -> None:
    """Take the migrations' lock, trying it until it is free (see the module's docstring)."""
    delay = 0.01
    while True:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS taken", (_LOCK_KEY,))
        row = await cur.fetchone()
        if row is not None and row["taken"]:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, _LOCK_POLL_MAX)
