"""The long-term memory store: langgraph's ``AsyncPostgresStore`` over graphyard's pool, set up
from ``store`` in langgraph.json. The API serves it under ``/store``; the worker binds it into
every graph it runs, so nodes (``runtime.store``, a ``store: BaseStore`` parameter) read and
write the same items."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import TTLConfig, ensure_embeddings
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.postgres.base import PostgresIndexConfig
from pydantic import BaseModel, ConfigDict, Field

from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.specs import import_target, is_file_ref
from graphyard.storage.db import Pool
from graphyard.storage.rows import Conn

VECTOR_EXTENSION = "vector"


class StoreIndexConfig(BaseModel):
    """``store.index``: items are embedded for semantic search (``query`` on search).

    ``embed`` is ``"provider:model"`` (LangChain's ``init_embeddings``; needs ``langchain`` and
    the provider's package) or ``"./file.py:function"`` / ``"package.module:function"``: a
    (sync or async) function from a list of texts to a list of vectors, or an ``Embeddings``.
    Other keys (``distance_type``, ``ann_index_config``) go to ``AsyncPostgresStore`` as given.
    """

    model_config = ConfigDict(extra="allow")
    dims: int = Field(gt=0, le=16000)
    embed: str = Field(min_length=1)
    fields: list[str] | None = None


class StoreTTLConfig(BaseModel):
    """``store.ttl``: items expire ``default_ttl`` minutes after their last write (or read,
    with ``refresh_on_read``); workers delete expired items every ``sweep_interval_minutes``."""

    model_config = ConfigDict(extra="allow")
    refresh_on_read: bool = True
    default_ttl: float | None = Field(default=None, gt=0)
    sweep_interval_minutes: float = Field(default=5, gt=0)


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: StoreIndexConfig | None = None
    ttl: StoreTTLConfig = Field(default_factory=StoreTTLConfig)


def load_embeddings(config_path: Path, embed: str) -> Embeddings:
    """The ``Embeddings`` that ``store.index.embed`` names."""
    module_ref, sep, _ = embed.rpartition(":")
    # Provider names ("openai", "azure_openai") are never paths nor dotted module names.
    if sep and (is_file_ref(module_ref) or "." in module_ref):
        target = import_target(config_path, "store.index.embed", embed)
        if not (isinstance(target, Embeddings) or callable(target)):
            raise ConfigError(
                f"{config_path}: key store.index.embed: {embed!r} is a {type(target).__name__}; "
                "expected a function from a list of texts to a list of vectors, or Embeddings"
            )
        return ensure_embeddings(target)
    try:
        return ensure_embeddings(embed)
    except Exception as exc:
        raise ConfigError(f"{config_path}: key store.index.embed: {embed!r}: {exc}") from exc


def _index(config: StoreIndexConfig, embed: Any) -> PostgresIndexConfig:
    index: dict[str, Any] = {**(config.model_extra or {}), "dims": config.dims, "embed": embed}
    if config.fields is not None:
        index["fields"] = config.fields
    return cast(PostgresIndexConfig, index)


def ttl_config(config: StoreConfig) -> TTLConfig:
    # Expired items are never served, even before a sweep deletes them.
    return TTLConfig(
        refresh_on_read=config.ttl.refresh_on_read,
        default_ttl=config.ttl.default_ttl,
        omit_expired=True,
    )


def open_store(pool: Pool, config_path: Path, config: StoreConfig) -> AsyncPostgresStore:
    """The process's store over ``pool`` (call from the event loop that will use it)."""
    index = None
    if config.index is not None:
        index = _index(config.index, load_embeddings(config_path, config.index.embed))
    return AsyncPostgresStore(pool, index=index, ttl=ttl_config(config))


def _no_embedding(texts: list[str]) -> list[list[float]]:
    raise AssertionError("setting up the store's tables embeds nothing")


async def setup_store(conn: Conn, config: StoreConfig, settings: Settings) -> None:
    """Create or migrate the store's tables (and, with ``store.index``, its vector table).

    The tables' shape needs ``dims``, not the embedding function, which may need secrets the
    migrating process does not hold.
    """
    index = None
    if config.index is not None:
        await _ensure_pgvector(conn, settings.database_schema, settings.database_extensions_schema)
        index = _index(config.index, _no_embedding)
    await AsyncPostgresStore(conn, index=index).setup()
    # A search or get that refreshes TTLs joins the items it found back to ``store`` among
    # those with a TTL; with none (or few) of them the planner takes that side first and
    # scanned the whole table on every read (tests/test_query_plans.py). This index is that
    # side, as small as the items with a TTL. The store's own migrations do not make it.
    await conn.execute(
        "CREATE INDEX IF NOT EXISTS store_ttl_items_idx ON store (prefix, key)"
        " WHERE ttl_minutes IS NOT NULL"
    )


async def _ensure_pgvector(conn: Conn, schema: str, extensions_schema: str) -> None:
    """pgvector's type and operators must be on the connections' search_path: install it in
    ``extensions_schema`` unless it is installed already, and refuse a schema off the path."""
    cur = await conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = %s",
        (VECTOR_EXTENSION,),
    )
    row = await cur.fetchone()
    if row is None:
        try:
            await conn.execute(
                f'CREATE EXTENSION IF NOT EXISTS vector SCHEMA "{extensions_schema}"'
            )
        except Exception as exc:
            raise ConfigError(
                "store.index needs the pgvector extension, and it could not be installed in "
                f"schema {extensions_schema!r}: {exc}. Install pgvector (CREATE EXTENSION vector) "
                "or remove store.index from langgraph.json."
            ) from exc
    elif row["nspname"] not in (schema, extensions_schema):
        raise ConfigError(
            f"pgvector is installed in schema {row['nspname']!r}, which graphyard's connections "
            f"do not search; set GRAPHYARD_DATABASE_EXTENSIONS_SCHEMA={row['nspname']}."
        )
