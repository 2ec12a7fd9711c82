"""Store request bodies and the rules their namespaces, filters and index paths follow.

What the store would refuse only once it reached Postgres (NUL characters, unknown filter
operators, unbounded TTLs) is refused here with a 4xx, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from graphyard.api.schemas import MAX_OFFSET
from graphyard.errors import BadRequest, Unprocessable
from graphyard.runs.request import Body
from graphyard.serde import to_jsonable

# Postgres keeps a store item's TTL in an ``integer`` column of minutes (so at least one, and
# ten years fit).
MIN_TTL_MINUTES = 1
MAX_TTL_MINUTES = 10 * 366 * 24 * 60
MAX_DEPTH = 2**31 - 1
FILTER_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
Namespace = list[str]


class StorePut(Body):
    """``index``: ``false`` (not embedded) or the fields to embed (default: ``store.index``'s).
    ``ttl``: minutes after the last access; absent: ``store.ttl.default_ttl``; ``null``: never."""

    namespace: Namespace
    key: str
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = Field(
        default=None, ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES, allow_inf_nan=False
    )


class StoreDelete(Body):
    namespace: Namespace
    key: str


class StoreSearch(Body):
    """``query`` ranks by meaning when ``store.index`` is configured (ignored otherwise, as the
    reference ignores it); items are otherwise newest first."""

    namespace_prefix: Namespace
    filter: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreListNamespaces(Body):
    """``*`` in ``prefix`` or ``suffix`` matches any one label."""

    prefix: Namespace | None = None
    suffix: Namespace | None = None
    max_depth: int | None = Field(default=None, ge=1, le=MAX_DEPTH)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def _storable(text: str) -> bool:
    """Postgres text holds neither NUL nor lone surrogates (which UTF-8 cannot encode)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def check_key(key: str | None) -> str:
    if not key:
        raise BadRequest("Key is required")
    if not _storable(key):
        raise Unprocessable("key must not contain NUL characters or lone surrogates")
    return key


def labels(namespace: Sequence[str]) -> tuple[str, ...]:
    """The namespace as the store takes it; 422 for an empty label or one holding a period (the
    store joins labels with periods), NUL or a lone surrogate."""
    for label in namespace:
        if not label or "." in label:
            raise Unprocessable(
                f"Namespace labels cannot be empty or contain periods. Received: {tuple(namespace)}"
            )
        if not _storable(label):
            raise Unprocessable("Namespace labels cannot contain NUL characters or lone surrogates")
    return tuple(namespace)


def item_namespace(namespace: Sequence[str]) -> tuple[str, ...]:
    """An item's own namespace: at least one label; a root of ``langgraph`` is reserved."""
    if not namespace:
        raise BadRequest("Namespace cannot be empty.")
    checked = labels(namespace)
    if checked[0] == "langgraph":
        raise BadRequest(f'Root label for namespace cannot be "langgraph". Got: {checked}')
    return checked


def query_namespace(values: list[str] | None) -> tuple[str, ...]:
    """``namespace`` of ``GET /store/items``: dot-joined labels (what the SDK sends); repeated
    parameters append their labels."""
    return labels(".".join(values or []).split("."))


def check_filter(filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """The filter, with values cleaned as stored values are (NUL becomes U+FFFD)."""
    if not filter:
        return None
    for field, condition in filter.items():
        if not _storable(field):
            raise Unprocessable("filter fields must not contain NUL characters or lone surrogates")
        if isinstance(condition, dict):
            unknown = [op for op in condition if op not in FILTER_OPERATORS]
            if unknown:
                raise Unprocessable(
                    f"filter.{field}: unsupported operator(s) {unknown}; "
                    f"use one of {list(FILTER_OPERATORS)}"
                )
    cleaned: dict[str, Any] = to_jsonable(filter)
    return cleaned


def check_index(index: Literal[False] | list[str] | None) -> Literal[False] | list[str] | None:
    if isinstance(index, list) and not all(_storable(path) for path in index):
        raise Unprocessable("index paths must not contain NUL characters or lone surrogates")
    return index
