"""How many threads there are, by status, without reading them: ``thread_counts`` holds
deltas appended by triggers on ``threads`` (migration 0010) in the writer's transaction, so a
sum is exact at any snapshot; the housekeeping folds them into one row per status."""

from __future__ import annotations

from graphyard.storage.rows import Conn


async def total(conn: Conn, status: str | None = None) -> int:
    """The number of threads (with ``status``)."""
    cur = await conn.execute(
        "SELECT coalesce(sum(n), 0)::bigint AS n FROM thread_counts"
        + (" WHERE status = %s" if status else ""),
        (status,) if status else (),
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


#: Replaces the deltas with one row per status. Deltas appended meanwhile are not in the
#: statement's snapshot and stay; a concurrent fold skips the rows this one deleted.
FOLD = """
    WITH folded AS (DELETE FROM thread_counts RETURNING status, n)
    INSERT INTO thread_counts (status, n)
    SELECT status, sum(n) FROM folded GROUP BY status HAVING sum(n) <> 0
"""


async def fold(conn: Conn) -> None:
    """Fold the deltas (``FOLD``)."""
    await conn.execute(FOLD)
