"""Assistant rows and their versions: every change writes a version, the row holds the latest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from graphyard.storage import paging
from graphyard.storage.filters import Scope, where
from graphyard.storage.jsonb import jsonb
from graphyard.storage.rows import AssistantRow, AssistantVersionRow, Conn
from graphyard.storage.statuses import is_live

SORTABLE = ("assistant_id", "created_at", "updated_at", "name", "graph_id")


def _sort_key(sort_by: str) -> str:
    """Names sort as the reference sorts them: case-insensitive, by code point."""
    return f'lower({sort_by}) COLLATE "C"' if sort_by in ("name", "graph_id") else sort_by


# The columns a version shares with its assistant row (all but the timestamps and version).
FIELDS = ("graph_id", "config", "context", "metadata", "name", "description")


async def ensure_system(
    conn: Conn, *, assistant_id: str, graph_id: str, name: str, description: str | None
) -> None:
    """Register a graph's system assistant once; later starts leave it (and its edits) alone."""
    async with conn.transaction():
        cur = await conn.execute(
            """
            INSERT INTO assistants (assistant_id, graph_id, metadata, name, description)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (assistant_id) DO NOTHING
            RETURNING assistant_id
            """,
            (assistant_id, graph_id, jsonb({"created_by": "system"}), name, description),
        )
        if await cur.fetchone() is not None:
            await conn.execute(
                """
                INSERT INTO assistant_versions
                    (assistant_id, version, graph_id, metadata, name, description)
                VALUES (%s, 1, %s, %s, %s, %s)
                """,
                (assistant_id, graph_id, jsonb({"created_by": "system"}), name, description),
            )


async def get(conn: Conn, assistant_id: str, *, scope: Scope = None) -> AssistantRow | None:
    """The assistant, if ``scope`` (an auth filter) lets the caller see it."""
    clause, params = where(scope)
    cur = await conn.execute(
        f"SELECT * FROM assistants WHERE assistant_id = %s AND {clause}", [assistant_id, *params]
    )
    return cast(AssistantRow | None, await cur.fetchone())


async def create(
    conn: Conn,
    *,
    assistant_id: str,
    graph_id: str,
    config: dict[str, Any],
    context: dict[str, Any],
    metadata: dict[str, Any],
    name: str,
    description: str | None,
) -> AssistantRow | None:
    """Insert an assistant and its version 1; ``None`` if the id is taken."""
    values = (graph_id, jsonb(config), jsonb(context), jsonb(metadata), name, description)
    async with conn.transaction():
        cur = await conn.execute(
            """
            INSERT INTO assistants
                (assistant_id, graph_id, config, context, metadata, name, description)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (assistant_id) DO NOTHING
            RETURNING *
            """,
            (assistant_id, *values),
        )
        row = cast(AssistantRow | None, await cur.fetchone())
        if row is not None:
            await _write_version(conn, row)
    return row


async def _write_version(conn: Conn, row: AssistantRow) -> None:
    """Record ``row`` (an assistants row) as its version ``row["version"]``."""
    await conn.execute(
        """
        INSERT INTO assistant_versions
            (assistant_id, version, graph_id, config, context, metadata, name, description)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            row["assistant_id"],
            row["version"],
            row["graph_id"],
            jsonb(row["config"]),
            jsonb(row["context"]),
            jsonb(row["metadata"]),
            row["name"],
            row["description"],
        ),
    )


async def patch(
    conn: Conn, assistant_id: str, changes: dict[str, Any], *, scope: Scope = None
) -> AssistantRow | None:
    """Apply ``changes`` (``FIELDS`` keys; metadata is merged, the rest replaced) as a new
    version, one past the highest so far, and make it the latest. ``None`` if missing (or
    out of ``scope``)."""
    clause, scope_params = where(scope)
    async with conn.transaction():
        cur = await conn.execute(
            f"SELECT 1 FROM assistants WHERE assistant_id = %s AND {clause} FOR UPDATE",
            [assistant_id, *scope_params],
        )
        if await cur.fetchone() is None:
            return None
        sets = ["updated_at = now()"]
        params: list[Any] = []
        for field in FIELDS:
            if field not in changes:
                continue
            value = changes[field]
            is_json = field in ("config", "context", "metadata")
            sets.append("metadata = metadata || %s" if field == "metadata" else f"{field} = %s")
            params.append(jsonb(value) if is_json else value)
        # The row lock above serialises patches, so this statement sees the last version.
        cur = await conn.execute(
            f"""
            UPDATE assistants SET {", ".join(sets)}, version = (
                SELECT COALESCE(max(version), 0) + 1 FROM assistant_versions
                WHERE assistant_id = %s)
            WHERE assistant_id = %s
            RETURNING *
            """,
            [*params, assistant_id, assistant_id],
        )
        row = cast(AssistantRow | None, await cur.fetchone())
        assert row is not None
        await _write_version(conn, row)
    return row


@dataclass(frozen=True)
class Deleted:
    """What deleting an assistant removed: its threads' ids, its live runs' (and its threads'),
    its crons'."""

    thread_ids: list[str]
    live_run_ids: list[str]
    cron_ids: list[str]


async def delete(
    conn: Conn,
    assistant_id: str,
    *,
    delete_threads: bool,
    scope: Scope = None,
    thread_scope: Scope = None,
) -> Deleted | None:
    """Delete an assistant, its versions, runs and crons, as the reference's schema cascades;
    with ``delete_threads``, also the threads whose ``metadata.assistant_id`` is this assistant
    (those ``thread_scope`` shows) and their runs. ``None`` if it is missing (or out of
    ``scope``). Checkpoints, live workflows and schedules are the caller's to clean up."""
    clause, params = where(scope)
    async with conn.transaction():
        cur = await conn.execute(
            f"DELETE FROM assistants WHERE assistant_id = %s AND {clause} RETURNING assistant_id",
            [assistant_id, *params],
        )
        if await cur.fetchone() is None:
            return None
        thread_ids: list[str] = []
        if delete_threads:
            clause, params = where(thread_scope)
            cur = await conn.execute(
                f"DELETE FROM threads WHERE metadata->>'assistant_id' = %s AND {clause}"
                " RETURNING thread_id",
                [assistant_id, *params],
            )
            thread_ids = [str(r["thread_id"]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "DELETE FROM runs WHERE assistant_id = %s OR thread_id = ANY(%s::uuid[])"
            " RETURNING run_id, status, waiting",
            (assistant_id, thread_ids),
        )
        live = [str(r["run_id"]) for r in await cur.fetchall() if is_live(r)]
        cur = await conn.execute(
            "DELETE FROM crons WHERE assistant_id = %s RETURNING cron_id", (assistant_id,)
        )
        cron_ids = [str(r["cron_id"]) for r in await cur.fetchall()]
    return Deleted(thread_ids, live, cron_ids)


async def versions(
    conn: Conn,
    assistant_id: str,
    *,
    metadata: dict[str, Any] | None,
    limit: int,
    offset: int,
    scope: Scope = None,
) -> list[AssistantVersionRow]:
    """The assistant's versions, newest first (none if ``scope`` hides the assistant)."""
    clause, params = where(scope, "a.metadata")
    condition = f"v.assistant_id = %s AND {clause}"
    params = [assistant_id, *params]
    if metadata:
        condition += " AND v.metadata @> %s"
        params.append(jsonb(metadata))
    cur = await conn.execute(
        "SELECT v.* FROM assistant_versions v JOIN assistants a USING (assistant_id)"
        f" WHERE {condition} ORDER BY v.version DESC LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    return cast(list[AssistantVersionRow], await cur.fetchall())


async def set_latest(
    conn: Conn, assistant_id: str, version: int, *, scope: Scope = None
) -> AssistantRow | None:
    """Make ``version`` the assistant's current one; ``None`` if there is no such version
    (or the assistant is out of ``scope``)."""
    clause, params = where(scope, "a.metadata")
    cur = await conn.execute(
        f"""
        UPDATE assistants a SET
            graph_id = v.graph_id, config = v.config, context = v.context,
            metadata = v.metadata, name = v.name, description = v.description,
            version = v.version, updated_at = now()
        FROM assistant_versions v
        WHERE a.assistant_id = %s AND v.assistant_id = a.assistant_id AND v.version = %s
          AND {clause}
        RETURNING a.*
        """,
        [assistant_id, version, *params],
    )
    return cast(AssistantRow | None, await cur.fetchone())


def _where(
    graph_id: str | None, metadata: dict[str, Any] | None, name: str | None, scope: Scope
) -> tuple[str, list[Any]]:
    """The filters search and count share: exact graph, metadata containment, name substring
    (and the auth ``scope``)."""
    clause, params = where(scope)
    conditions = [clause]
    if graph_id is not None:
        conditions.append("graph_id = %s")
        params.append(graph_id)
    if metadata:
        conditions.append("metadata @> %s")
        params.append(jsonb(metadata))
    if name:
        conditions.append("name ILIKE %s")
        params.append(f"%{_escape_like(name)}%")
    return " AND ".join(conditions), params


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def count(
    conn: Conn,
    *,
    graph_id: str | None,
    metadata: dict[str, Any] | None,
    name: str | None,
    scope: Scope = None,
) -> int:
    clause, params = _where(graph_id, metadata, name, scope)
    cur = await conn.execute(f"SELECT count(*) AS n FROM assistants WHERE {clause}", params)
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def search(
    conn: Conn,
    *,
    graph_id: str | None,
    metadata: dict[str, Any] | None,
    name: str | None,
    limit: int,
    offset: int,
    sort_by: str,
    sort_order: str,
    scope: Scope = None,
) -> tuple[list[AssistantRow], int]:
    """A page of assistants and its total (``paging.page``)."""
    clause, params = _where(graph_id, metadata, name, scope)
    order = "ASC" if sort_order.lower() == "asc" else "DESC"
    assert sort_by in SORTABLE
    found, total = await paging.page(
        conn,
        "assistants",
        clause,
        params,
        order_by=f"{_sort_key(sort_by)} {order}, assistant_id {order}",
        limit=limit,
        offset=offset,
    )
    return cast(list[AssistantRow], found), total
