"""Assistant rows and their versions."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from graphyard.storage.jsonb import jsonb

Conn = AsyncConnection[DictRow]
Row = dict[str, Any]

SORTABLE = ("assistant_id", "created_at", "updated_at", "name", "graph_id")


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


async def get(conn: Conn, assistant_id: str) -> Row | None:
    cur = await conn.execute("SELECT * FROM assistants WHERE assistant_id = %s", (assistant_id,))
    return await cur.fetchone()


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
) -> tuple[list[Row], int]:
    """A page of assistants and the total matching count."""
    where = ["TRUE"]
    params: list[Any] = []
    if graph_id is not None:
        where.append("graph_id = %s")
        params.append(graph_id)
    if metadata:
        where.append("metadata @> %s")
        params.append(jsonb(metadata))
    if name:
        where.append("name ILIKE %s")
        params.append(f"%{name}%")
    order = "ASC" if sort_order.lower() == "asc" else "DESC"
    assert sort_by in SORTABLE
    clause = " AND ".join(where)
    cur = await conn.execute(
        f"SELECT *, count(*) OVER () AS _total FROM assistants WHERE {clause} "
        f"ORDER BY {sort_by} {order} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    if rows:
        total = int(rows[0]["_total"])
    else:
        cur = await conn.execute(f"SELECT count(*) AS n FROM assistants WHERE {clause}", params)
        count_row = await cur.fetchone()
        total = int(count_row["n"]) if count_row else 0
    for row in rows:
        row.pop("_total", None)
    return rows, total
