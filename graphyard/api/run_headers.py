"""``http.configurable_headers``: the request headers a run's graph reads in
``config["configurable"]`` (lower-case names), as on the reference: none unless ``includes``
names them, ``excludes`` winning.

Credentials are never copied, whatever the patterns say (``NEVER``: the reference's list, plus
cookies): run config is stored in Postgres and returned by the API. Every other copied header
passes graphyard's secret check: a value that looks like a credential (``Bearer ...``, a JWT,
an ``sk-...`` key) or a header whose name does (``x-auth-token``) makes the run request a 422
naming the header, never a silent drop. ``GRAPHYARD_SECRET_CHECK_ALLOW`` (a header name or
``config.configurable.<name>``) lets one through; docs/secrets.md.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request

from graphyard.errors import Unprocessable
from graphyard.http_config import HeaderMatcher, HttpConfig
from graphyard.runs.rules import RESERVED_CONFIGURABLE_PREFIXES
from graphyard.runs.secret_check import DOCS, find_secrets

log = logging.getLogger(__name__)

NEVER = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-service-key", "x-tenant-id"}
)
_STATE = "configurable_headers"
_PATH = "config.configurable"


def install(app: FastAPI, http: HttpConfig) -> None:
    """Compile the patterns once; warn about credential headers the patterns name."""
    patterns = http.configurable_headers
    setattr(app.state, _STATE, patterns.matcher() if patterns else None)
    named = (
        {p.lower() for p in (patterns.includes or patterns.include or [])} if patterns else set()
    )
    if named & NEVER:
        log.warning(
            "http.configurable_headers includes %s: credentials are never copied into run "
            "config (it is stored and returned by the API); the graph cannot read them there",
            ", ".join(sorted(named & NEVER)),
        )


def configurable_headers(request: Request) -> dict[str, str]:
    """The headers of this request its run's ``configurable`` gets (422 for a secret)."""
    matcher: HeaderMatcher | None = getattr(request.app.state, _STATE, None)
    if matcher is None:
        return {}
    copied = {
        name: value
        for name, value in request.headers.items()
        if name not in NEVER and not name.startswith(RESERVED_CONFIGURABLE_PREFIXES)
        if matcher(name)
    }
    settings = request.app.state.services.settings
    if copied and settings.secret_check:
        for path, reason in find_secrets(copied, _PATH, settings.secret_check_allow):
            name = path.removeprefix(f"{_PATH}.")
            raise Unprocessable(
                f"request header {name!r} looks like a secret ({reason}) and "
                "http.configurable_headers copies it into the run's config, which is stored "
                "and returned by the API. Add it to http.configurable_headers.excludes, or, if "
                f"it is not a secret, allow it with GRAPHYARD_SECRET_CHECK_ALLOW={name}; see "
                f"{DOCS}."
            )
    return copied
