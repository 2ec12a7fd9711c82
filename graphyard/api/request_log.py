"""One log line per request, written when its response ends (a stream's when it closes):
method, path, the query's parameter names (never their values), status, duration, and the
run and thread it concerns where the path or the response's ``Content-Location`` names them.
``GRAPHYARD_LOG_FORMAT=json`` makes these fields of a JSON object. Health checks and metrics
scrapes (/ok, /, /metrics) are quiet unless ``GRAPHYARD_LOG_HEALTH_CHECKS`` is on; the headers
``http.logging_headers`` names are added, credentials masked.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphyard.config import Settings
from graphyard.http_config import HeaderPatterns
from graphyard.redaction import MASK, redact
from graphyard.runs.secret_check import secret_key_name

log = logging.getLogger("graphyard.requests")

QUIET_PATHS = frozenset({"/", "/ok", "/metrics"})
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_THREAD = re.compile(rf"/threads/({_UUID})")
_RUN = re.compile(rf"/runs/({_UUID})")


class RequestLog:
    """ASGI middleware writing the request line (streams are not buffered)."""

    def __init__(
        self, app: ASGIApp, /, settings: Settings, headers: HeaderPatterns | None = None
    ) -> None:
        self.app = app
        self.quiet = frozenset() if settings.log_health_checks else QUIET_PATHS
        self.headers = headers.matcher() if headers is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.quiet:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler
        location: str | None = None

        async def sending(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                response = Headers(raw=message.get("headers", []))
                location = response.get("content-location") or response.get("location")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._write(scope, status, time.perf_counter() - start, location)

    def _write(self, scope: Scope, status: int, seconds: float, location: str | None) -> None:
        path: str = scope["path"]
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        names = sorted({k for k, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"))})
        if names:
            fields["query"] = names
        for key, pattern in (("thread_id", _THREAD), ("run_id", _RUN)):
            found = pattern.search(path) or (pattern.search(location) if location else None)
            if found:
                fields[key] = found.group(1)
        if self.headers is not None:
            logged = {
                name: _masked(name, value)
                for name, value in Headers(scope=scope).items()
                if self.headers(name)
            }
            if logged:
                fields["headers"] = logged
        text = f"{fields['method']} {path}"
        if names:
            text += "?" + "&".join(names)
        text += f" {status} {fields['duration_ms']} ms"
        text += "".join(f" {k}={fields[k]}" for k in ("run_id", "thread_id") if k in fields)
        if "headers" in fields:
            text += " " + " ".join(f"{k}={v!r}" for k, v in fields["headers"].items())
        level = logging.WARNING if status >= 500 else logging.INFO
        log.log(level, "%s", text, extra=fields)


def _masked(name: str, value: str) -> str:
    if name in _CREDENTIAL_HEADERS or secret_key_name(name):
        return MASK
    return redact(value)
