"""What one event stream delivers: channels, namespace prefixes and depth, and the ``since``
cursor it resumes after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from langchain_protocol import Channel
from langgraph_sdk.stream.subscription import namespace_matches

# The fixed channel names of langchain-protocol; ``custom:<name>`` is the open-ended one.
CHANNELS = frozenset(
    str(arg)
    for member in get_args(Channel)
    if get_origin(member) is Literal
    for arg in get_args(member)
)


class Invalid(ValueError):
    """A subscription the protocol cannot serve (the message says which field, and why)."""


def _channel_ok(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    return value in CHANNELS or (value.startswith("custom:") and len(value) > len("custom:"))


@dataclass(frozen=True)
class Filter:
    channels: frozenset[str]
    namespaces: list[list[str]] | None = None
    depth: int | None = None
    since: int | None = None

    @classmethod
    def parse(cls, body: Any, *, with_since: bool = True) -> Filter:
        """An ``EventStreamRequest`` (or ``SubscribeParams``), checked field by field."""
        if not isinstance(body, dict):
            raise Invalid("the subscription must be a JSON object")
        channels = body.get("channels")
        if not isinstance(channels, list) or not channels:
            raise Invalid("channels is required and must be a non-empty array")
        bad = [repr(c) if not isinstance(c, str) else c for c in channels if not _channel_ok(c)]
        if bad:
            raise Invalid(
                f"channels contains unsupported entries: {', '.join(bad[:5])}. Allowed: "
                f"{', '.join(sorted(CHANNELS))}, or any `custom:<name>`."
            )
        namespaces = body.get("namespaces")
        if namespaces is not None and not (
            isinstance(namespaces, list)
            and all(
                isinstance(ns, list) and all(isinstance(s, str) for s in ns) for ns in namespaces
            )
        ):
            raise Invalid("namespaces must be an array of arrays of strings")
        depth = body.get("depth")
        if depth is not None and (
            not isinstance(depth, int) or isinstance(depth, bool) or depth < 0
        ):
            raise Invalid("depth must be a non-negative integer")
        since = body.get("since") if with_since else None
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise Invalid("since must be a non-negative integer")
        return cls(frozenset(channels), namespaces or None, depth, since)

    def matches(self, event: dict[str, Any]) -> bool:
        method = event["method"]
        params = event["params"]
        if method == "custom":
            name = params["data"].get("name") if isinstance(params["data"], dict) else None
            if "custom" not in self.channels and f"custom:{name}" not in self.channels:
                return False
        elif ("input" if method == "input.requested" else method) not in self.channels:
            return False
        return namespace_matches(params["namespace"], self.namespaces, self.depth)
