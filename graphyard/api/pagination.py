"""Search pages as the reference serves them: ``select`` projection and pagination headers."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import Response

from graphyard.errors import Unprocessable


def check_select(select: list[str] | None, allowed: Collection[str]) -> None:
    """422 for a ``select`` naming a field the resource does not have."""
    invalid = [field for field in select or [] if field not in allowed]
    if invalid:
        raise Unprocessable(f"Invalid select columns: {invalid}. Expected: {sorted(allowed)}")


def page(
    response: Response,
    items: list[dict[str, Any]],
    *,
    offset: int,
    total: int,
    select: list[str] | None,
) -> list[dict[str, Any]]:
    """Set ``X-Pagination-Total`` (and ``X-Pagination-Next`` when more follow) and project
    the items onto ``select``. As the reference's, the total is exact on the last page and one
    past this page while more follow (``storage/paging.py``)."""
    response.headers["X-Pagination-Total"] = str(total)
    if offset + len(items) < total:
        response.headers["X-Pagination-Next"] = str(offset + len(items))
    if select:
        return [{k: v for k, v in item.items() if k in select} for item in items]
    return items
