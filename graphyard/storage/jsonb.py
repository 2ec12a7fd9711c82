"""``jsonb`` parameters rendered with graphyard's serializer."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from graphyard.serde import dumps_str


def jsonb(value: Any) -> Jsonb:
    """Wrap ``value`` for a ``jsonb`` parameter (messages, interrupts and the like included)."""
    return Jsonb(value, dumps=dumps_str)
