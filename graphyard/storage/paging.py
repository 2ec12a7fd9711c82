"""A page of rows and the total count of rows matching, in one query when the page is not
empty (a window count), as search routes answer them."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow

from graphyard.storage.rows import Conn


async def page(
    conn: Conn,
    table: str,
    where: str,
    params: list[Any],
    *,
    order_by: str,
    limit: int,
    offset: int,
) -> tuple[list[DictRow], int]:
    """Rows of ``table`` matching ``where`` (trusted SQL, values in ``params``), ordered by
    ``order_by`` (trusted SQL), and how many match in all."""
    cur = await conn.execute(
        f"SELECT *, count(*) OVER () AS _total FROM {table} WHERE {where} "
        f"ORDER BY {order_by} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    if rows:
        total = int(rows[0]["_total"])
        for row in rows:
            del row["_total"]
        return rows, total
    # An empty page (past the end) has no window count to read.
    cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
    counted = await cur.fetchone()
    return rows, int(counted["n"]) if counted else 0
