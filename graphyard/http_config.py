"""``http`` of langgraph.json, with the reference server's meaning: CORS, a custom app served
beside the API, routes turned off, a mount prefix, and which request headers reach runs and logs.

The API reads it (``graphyard.api.http_app``); workers read ``disable_webhooks`` only. Keys this
model does not name are kept and reported at start-up (``unknown_keys``), never ignored silently.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The disable_* keys that name route groups graphyard serves; ``ui`` and ``event_streaming``
# name route groups it does not serve (nothing to turn off).
ROUTE_GROUPS = ("assistants", "threads", "runs", "store", "meta", "mcp", "a2a")


def mount_prefix(value: str | None) -> str | None:
    """A mount prefix as served: ``/my-api`` (no trailing slash); ``None`` for none."""
    if not value:
        return None
    if not value.startswith("/"):
        raise ValueError(f"mount prefix {value!r} must start with '/' (e.g. '/my-api')")
    return value.rstrip("/") or None


class CorsConfig(BaseModel):
    """``http.cors`` (or ``GRAPHYARD_CORS_CONFIG``): Starlette's ``CORSMiddleware`` options.
    Unset keys keep graphyard's defaults (every method and header; the response headers clients
    read exposed)."""

    model_config = ConfigDict(extra="forbid")
    allow_origins: list[str] | None = None
    allow_methods: list[str] | None = None
    allow_headers: list[str] | None = None
    allow_credentials: bool | None = None
    allow_origin_regex: str | None = None
    expose_headers: list[str] | None = None
    max_age: int | None = Field(default=None, ge=0)

    @field_validator("allow_origin_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class HeaderPatterns(BaseModel):
    """``http.configurable_headers`` / ``http.logging_headers``: header names matched
    case-insensitively by literal names and ``*`` wildcards (``x-*``); ``excludes`` win over
    ``includes``; nothing matches when ``includes`` is empty. ``include`` / ``exclude`` are
    aliases, as on the reference."""

    model_config = ConfigDict(extra="forbid")
    includes: list[str] | None = None
    excludes: list[str] | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None

    def _compiled(self, patterns: list[str] | None) -> list[re.Pattern[str]]:
        # Only literals and "*": no user-supplied regex, so no catastrophic backtracking.
        return [
            re.compile(".*".join(re.escape(part) for part in p.lower().split("*")) + r"\Z")
            for p in patterns or []
        ]

    def matcher(self) -> HeaderMatcher:
        """A compiled matcher for these patterns."""
        return HeaderMatcher(
            self._compiled(self.includes or self.include),
            self._compiled(self.excludes or self.exclude),
        )


class HeaderMatcher:
    """Whether a (lower-case) header name passes include/exclude patterns."""

    def __init__(self, includes: list[re.Pattern[str]], excludes: list[re.Pattern[str]]) -> None:
        self._includes = includes
        self._excludes = excludes

    def __call__(self, name: str) -> bool:
        name = name.lower()
        if any(p.match(name) for p in self._excludes):
            return False
        return any(p.match(name) for p in self._includes)


class HttpConfig(BaseModel):
    """``http`` of langgraph.json; every key the reference documents is named here."""

    model_config = ConfigDict(extra="allow")
    app: str | None = None
    enable_custom_route_auth: bool = False
    middleware_order: Literal["auth_first", "middleware_first"] | None = None
    cors: CorsConfig | None = None
    mount_prefix: str | None = None
    configurable_headers: HeaderPatterns | None = None
    logging_headers: HeaderPatterns | None = None
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = False
    disable_store: bool = False
    disable_meta: bool = False
    disable_webhooks: bool = False
    disable_mcp: bool = False
    disable_a2a: bool = False
    # A route group graphyard does not serve: accepted, nothing to turn off.
    disable_ui: bool = False

    @field_validator("mount_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return mount_prefix(value)

    def unknown_keys(self) -> list[str]:
        """The keys of ``http`` graphyard does not implement (reported at start-up)."""
        return sorted(self.model_extra or {})

    def disabled(self, group: str) -> bool:
        """Whether ``disable_<group>`` turns a route group off."""
        return bool(getattr(self, f"disable_{group}"))
