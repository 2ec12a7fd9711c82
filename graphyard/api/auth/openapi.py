"""The OpenAPI document's security: what ``/docs`` offers to "Authorize" with.

With API keys, an ``x-api-key`` scheme; with custom auth, what langgraph.json's
``auth.openapi`` declares (``securitySchemes`` and ``security``, as on the reference), else a
bearer scheme, since an authenticate handler most often reads ``Authorization``. Health, info,
docs and metrics stay open and say so (``security: []``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from graphyard.api.auth.loading import AuthBackend
from graphyard.graphs import LoadedConfig

_OPEN_PREFIXES = ("/ok", "/info", "/metrics", "/docs", "/openapi.json")
_BEARER = {"Bearer": {"type": "http", "scheme": "bearer"}}


def _security(backend: AuthBackend, config: LoadedConfig) -> tuple[dict[str, Any], list[Any]]:
    schemes: dict[str, Any] = {}
    security: list[Any] = []
    if backend.api_keys:
        schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    if backend.authenticator is not None:
        auth = config.project.auth
        extra = (auth.model_extra if auth is not None else None) or {}
        declared = dict(extra.get("openapi") or {})
        schemes.update(
            declared.get("securitySchemes") or {"Bearer": {"type": "http", "scheme": "bearer"}}
        )
        security = list(declared.get("security") or [])
    if not security:
        # Every scheme is needed at once (both modes on: a key and the custom credentials).
        security = [{name: [] for name in schemes}]
    return schemes, security


def document_security(app: FastAPI, backend: AuthBackend | None, config: LoadedConfig) -> None:
    """Add the security schemes to the app's OpenAPI document (nothing without auth)."""
    if backend is None:
        return
    schemes, security = _security(backend, config)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {})["securitySchemes"] = schemes
            document["security"] = security
            for path, operations in document.get("paths", {}).items():
                if path == "/" or path.startswith(_OPEN_PREFIXES):
                    for operation in operations.values():
                        operation["security"] = []
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
