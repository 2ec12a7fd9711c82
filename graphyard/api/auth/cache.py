"""langgraph.json's ``auth.cache``: successful authentications kept for a while, so a costly
``@auth.authenticate`` (a remote token check, a JWKS fetch) runs once per credential and TTL
instead of on every request.

``{"cache_keys": ["authorization"], "ttl_seconds": 60, "max_size": 1000}``: entries are keyed by
the request's values of the ``cache_keys`` headers, hashed (the cache holds no credential),
expire after ``ttl_seconds`` and the least recently used goes beyond ``max_size``. Refusals are
never cached, so a new credential works at once; a revoked one still works until its entry
expires, in each API process.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any

from starlette.requests import Request

from graphyard.errors import ConfigError
from graphyard.runs.users import AuthUser

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_SIZE = 1000


class AuthCache:
    def __init__(self, headers: list[str], ttl_seconds: float, max_size: int) -> None:
        self.headers = [h.lower() for h in headers]
        self.ttl = ttl_seconds
        self.max_size = max_size
        self._entries: OrderedDict[str, tuple[float, AuthUser]] = OrderedDict()

    @classmethod
    def from_config(cls, raw: Any, where: str) -> AuthCache | None:
        """The cache ``auth.cache`` describes, or ``None`` without one."""
        if raw is None:
            return None
        keys = raw.get("cache_keys") if isinstance(raw, dict) else None
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"{where}: auth.cache.cache_keys must list header names")
        ttl = raw.get("ttl_seconds", DEFAULT_TTL_SECONDS)
        size = raw.get("max_size", DEFAULT_MAX_SIZE)
        if not isinstance(ttl, int | float) or ttl <= 0 or not isinstance(size, int) or size < 1:
            raise ConfigError(f"{where}: auth.cache needs a positive ttl_seconds and max_size")
        return cls(keys, float(ttl), size)

    def key(self, request: Request) -> str | None:
        """The request's entry key; ``None`` (not cached) when it sends none of the headers."""
        values = [request.headers.get(name) for name in self.headers]
        if all(v is None for v in values):
            return None
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()

    def get(self, key: str) -> AuthUser | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, user = entry
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return user

    def put(self, key: str, user: AuthUser) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, user)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
