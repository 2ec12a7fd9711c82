"""A run's status groups as SQL and on rows (the statuses themselves: ``graphyard.types``).

The SQL is literal text, not a parameter: the partial indexes on live runs (migration 0001)
serve only a query whose predicate matches theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphyard.types import ACTIVE_STATUSES

# Pending or running.
ACTIVE_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in ACTIVE_STATUSES))
# Pending, running, or waiting at an interrupt: what a thread still has in flight.
LIVE_SQL = f"({ACTIVE_SQL} OR waiting)"


def is_live(row: Mapping[str, Any]) -> bool:
    """Whether the run in ``row`` can still change (``LIVE_SQL`` on a row read)."""
    return row["status"] in ACTIVE_STATUSES or bool(row.get("waiting"))
