"""Which failures of a super-step no retry can fix: the run fails at once instead of burning
its attempts."""

from __future__ import annotations

from langgraph.errors import EmptyInputError, GraphRecursionError, InvalidUpdateError
from pydantic import ValidationError

from graphyard.graphs import GraphRegistry

# Errors that no retry can fix: fail the run at once instead of burning attempts.
NON_RETRYABLE: tuple[type[BaseException], ...] = (
    GraphRecursionError,
    InvalidUpdateError,
    EmptyInputError,
    ValidationError,
    RecursionError,
)
# What orjson and ormsgpack (LangGraph's checkpoint serializer) say, as plain TypeErrors, of a
# value they can never encode: the same input or state fails the same way on every attempt
# (and a retry once stored a too-large integer as a float).
UNSERIALIZABLE = (
    "Recursion limit reached",
    "Integer exceeds 64-bit range",
    "is not JSON serializable",
    "is not msgpack serializable",
    "not valid UTF-8",
)


def _final(exc: BaseException) -> bool:
    """Whether no retry can fix ``exc`` whatever the graph (a bad input, an unstorable value)."""
    if isinstance(exc, NON_RETRYABLE):
        return True
    return isinstance(exc, TypeError) and any(m in str(exc) for m in UNSERIALIZABLE)


def _listed(exc: BaseException, graphs: GraphRegistry, graph_id: str) -> bool:
    """Whether the graph's author lists the error (or a base class of it) as one no retry
    can fix (``retry.non_retryable`` in langgraph.json)."""
    listed = set(graphs.get(graph_id).retry.non_retryable)
    return any(
        cls.__name__ in listed or f"{cls.__module__}.{cls.__qualname__}" in listed
        for cls in type(exc).__mro__
    )


def no_retry_fixes(exc: BaseException, graphs: GraphRegistry, graph_id: str) -> bool:
    """Whether ``exc`` fails every attempt the same way: a bad input, an unstorable value, or
    an error the graph's author lists."""
    return _final(exc) or _listed(exc, graphs, graph_id)
