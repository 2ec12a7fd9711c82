"""``Authenticated``: the FastAPI dependency that authenticates a request to a protected router
(``app.include_router(router, dependencies=[Authenticated])``) and hands routes its
``RequestAuth`` (``auth: AuthDep``). FastAPI runs it once per request however often it is named.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from langgraph_sdk.auth.exceptions import HTTPException

from graphyard.api.auth import apikeys
from graphyard.api.auth.context import NOBODY, RequestAuth
from graphyard.api.auth.loading import AuthBackend
from graphyard.errors import Unauthorized
from graphyard.runs.users import AuthUser

log = logging.getLogger(__name__)

# Where a request's auth is kept once an ``AuthGate`` (http.app's middleware_order
# "auth_first") has authenticated it: the handler is not called twice.
GATED = "graphyard_auth"


async def authenticate(request: Request) -> RequestAuth:
    """The caller, or 401. Without auth configured: ``NOBODY`` (allowed, unfiltered)."""
    gated = request.scope.get("state", {}).get(GATED)
    if gated is not None:
        return gated  # type: ignore[no-any-return]
    backend: AuthBackend | None = request.app.state.auth
    if backend is None:
        return NOBODY
    key_name = None
    if backend.api_keys:
        key_name = apikeys.match(backend.api_keys, request.headers.get(apikeys.HEADER))
        if key_name is None:
            raise Unauthorized("Missing or invalid API key (x-api-key)")
    if backend.authenticator is None:
        assert key_name is not None
        return RequestAuth(AuthUser(identity=key_name, display_name=key_name))
    try:
        user = await backend.authenticator(request)
    except (HTTPException, Unauthorized):
        raise
    except Exception as exc:
        # A bug in the auth code fails closed; its message may quote a credential: type only.
        log.warning("authenticate handler raised %s: request refused", type(exc).__name__)
        raise Unauthorized("Unauthorized") from None
    if not user.is_authenticated:
        raise Unauthorized("Unauthorized")
    return RequestAuth(user, backend.handlers)


Authenticated = Depends(authenticate)
AuthDep = Annotated[RequestAuth, Authenticated]
