"""A page of rows and its pagination total, as search routes answer them.

The total is the reference server's (langgraph_api ``get_pagination_headers``): exact on the
last page, and ``offset + limit + 1`` ("at least one more") while more follow, known from one
extra row. A page so costs its rows whatever the table holds; an exact total would count every
match, and did: a window count read and sorted them all to return ten (``make bench-scale``).
The count endpoints count exactly (``count``)."""

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
    ``order_by`` (trusted SQL), and the total to report (see above)."""
    cur = await conn.execute(
        f"SELECT * FROM {table} WHERE {where} ORDER BY {order_by} LIMIT %s OFFSET %s",
        [*params, limit + 1, offset],
    )
    rows = await cur.fetchall()
    if len(rows) > limit:
        return rows[:limit], offset + limit + 1
    return rows, offset + len(rows)


async def count(conn: Conn, table: str, where: str, params: list[Any]) -> int:
    """How many rows of ``table`` match ``where``."""
    cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
    counted = await cur.fetchone()
    return int(counted["n"]) if counted else 0
