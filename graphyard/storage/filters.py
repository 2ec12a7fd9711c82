"""Authorization filters in SQL. An auth handler may answer with a metadata filter
(``{"owner": "u1"}``, ``{"f": {"$eq": v}}``, ``{"f": {"$contains": v | [v, ...]}}``, and
``{"$or": [...]}`` / ``{"$and": [...]}``); every storage read, count, update and delete takes
it as ``scope`` and adds it to its ``WHERE``, so a row the filter excludes is never read, counted,
changed or deleted. ``None`` (no auth, or a handler that allowed without filtering) adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphyard.errors import GraphyardError
from graphyard.storage.jsonb import jsonb

Scope = Mapping[str, Any] | None
Clause = tuple[str, list[Any]]

_MAX_DEPTH = 8  # nested $or/$and; deeper is a handler bug, not a query


class InvalidFilter(GraphyardError):
    """An auth handler returned a filter graphyard cannot apply (a bug in the auth code)."""


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _field(column: str, key: str, condition: Any) -> Clause:
    if not isinstance(condition, Mapping):
        if _scalar(condition):
            # Containment of {key: scalar} is equality, and the GIN index serves it.
            return f"{column} @> %s", [jsonb({key: condition})]
        return f"{column} -> %s = %s", [key, jsonb(condition)]
    parts: list[Clause] = []
    for op, operand in condition.items():
        if op == "$eq":
            parts.append(_field(column, key, operand))
        elif op == "$contains":
            # {key: [v, ...]} contained: the metadata array holds every one of them.
            wanted = list(operand) if isinstance(operand, list | tuple) else [operand]
            parts.append((f"{column} @> %s", [jsonb({key: wanted})]))
        else:
            raise InvalidFilter(f"auth filter on {key!r}: unknown operator {op!r}")
    if not parts:
        raise InvalidFilter(f"auth filter on {key!r}: an empty condition")
    return _join(parts, "AND")


def _join(parts: list[Clause], op: str) -> Clause:
    sql = f" {op} ".join(f"({p[0]})" for p in parts)
    return sql, [param for p in parts for param in p[1]]


def _compile(scope: Mapping[str, Any], column: str, depth: int) -> Clause:
    if depth > _MAX_DEPTH:
        raise InvalidFilter(f"auth filter nested deeper than {_MAX_DEPTH} levels")
    parts: list[Clause] = []
    for key, condition in scope.items():
        if key in ("$or", "$and"):
            if not isinstance(condition, list | tuple) or not condition:
                raise InvalidFilter(f"auth filter {key} takes a non-empty list of filters")
            subs = [_compile(_mapping(sub, key), column, depth + 1) for sub in condition]
            parts.append(_join(subs, "OR" if key == "$or" else "AND"))
        elif key.startswith("$"):
            raise InvalidFilter(f"auth filter: unknown operator {key!r}")
        else:
            parts.append(_field(column, key, condition))
    return _join(parts, "AND") if parts else ("TRUE", [])


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidFilter(f"auth filter {where}: expected filters, got {type(value).__name__}")
    return value


def where(scope: Scope, column: str = "metadata") -> Clause:
    """The SQL condition (and its parameters: a new list, callers add to it) a row's ``column``
    must meet; ``TRUE`` without a scope."""
    if scope is None:
        return "TRUE", []
    return _compile(_mapping(scope, "result"), column, 0)


def check(scope: Scope) -> None:
    """Raise ``InvalidFilter`` now (when the handler returns) rather than mid-query."""
    where(scope)


def run_where(scope: Scope, runs: str = "runs") -> Clause:
    """A run is seen through its thread's metadata; a run whose thread is gone (a stateless
    run's temporary thread) through its own."""
    if scope is None:
        return "TRUE", []
    on_thread, params = where(scope, "t.metadata")
    on_run, run_params = where(scope, f"{runs}.metadata")
    return (
        f"coalesce((SELECT {on_thread} FROM threads t WHERE t.thread_id = {runs}.thread_id),"
        f" {on_run})",
        [*params, *run_params],
    )
