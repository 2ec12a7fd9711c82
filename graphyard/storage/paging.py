"""A page of rows and the total count of rows matching, as search routes answer them.

The page is read alone (in index order, ``LIMIT``): a window count over it would read and sort
every matching row to return ten (``make bench-scale``). The total is counted apart, and only
when the page does not already tell it (a short page is the last one)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

Conn = AsyncConnection[DictRow]
Row = dict[str, Any]


async def page(
    conn: Conn,
    table: str,
    where: str,
    params: list[Any],
    *,
    order_by: str,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """Rows of ``table`` matching ``where`` (trusted SQL, values in ``params``), ordered by
    ``order_by`` (trusted SQL), and how many match in all."""
    cur = await conn.execute(
        f"SELECT * FROM {table} WHERE {where} ORDER BY {order_by} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    if 0 < len(rows) < limit or (not rows and offset == 0 and limit > 0):
        return rows, offset + len(rows)
    return rows, await count(conn, table, where, params)


async def count(conn: Conn, table: str, where: str, params: list[Any]) -> int:
    """How many rows of ``table`` match ``where``."""
    cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
    counted = await cur.fetchone()
    return int(counted["n"]) if counted else 0
