"""A ``langgraph_sdk.Auth`` object as graphyard calls it: its authenticate handler, with
parameters injected by name, and its authorization handlers, found most specific first."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from langgraph_sdk import Auth
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from graphyard.api.auth.cache import AuthCache
from graphyard.errors import ConfigError, GraphyardError
from graphyard.runs.users import AuthUser, as_user

Handler = Callable[..., Any]


async def _body(request: Request) -> Any:
    if not await request.body():  # Starlette keeps it: the route reads the same bytes again
        return None
    try:
        # Parsed once, at the edge (graphyard.api.routing), off the event loop when large.
        return await request.json()
    except (ValueError, GraphyardError):
        return None


def _headers(request: Request) -> dict[bytes, bytes]:
    return dict(request.scope["headers"])


def _scopes(request: Request) -> list[str]:
    credentials = request.scope.get("auth")
    return list(getattr(credentials, "scopes", None) or [])


# What ``@auth.authenticate`` may ask for, by parameter name.
_INJECTED: dict[str, Callable[[Request], Any]] = {
    "request": lambda r: r,
    "user": lambda r: r.scope.get("user"),
    "path": lambda r: r.url.path,
    "method": lambda r: r.method,
    "scopes": _scopes,
    "path_params": lambda r: dict(r.path_params),
    "query_params": lambda r: dict(r.query_params),
    "headers": _headers,
    "authorization": lambda r: r.headers.get("authorization"),
    "scope": lambda r: r.scope,
}


class Authenticator:
    """The authenticate handler, its parameters worked out once."""

    def __init__(self, fn: Handler, where: str, cache: AuthCache | None = None) -> None:
        self.fn = fn
        self.cache = cache
        self.is_async = inspect.iscoroutinefunction(fn)
        self.wanted: list[str] = []
        for name, param in inspect.signature(fn).parameters.items():
            if name in _INJECTED or name == "body":
                self.wanted.append(name)
            elif param.default is param.empty and param.kind not in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                known = ", ".join(sorted([*_INJECTED, "body"]))
                raise ConfigError(
                    f"{where}: the authenticate handler's parameter {name!r} is not one "
                    f"graphyard can pass; use any of: {known}"
                )

    async def __call__(self, request: Request) -> AuthUser:
        key = self.cache.key(request) if self.cache is not None else None
        if key is not None and self.cache is not None and (user := self.cache.get(key)):
            return user
        user = await self._authenticate(request)
        if key is not None and self.cache is not None:
            self.cache.put(key, user)
        return user

    async def _authenticate(self, request: Request) -> AuthUser:
        kwargs = {
            name: await _body(request) if name == "body" else _INJECTED[name](request)
            for name in self.wanted
        }
        if self.is_async:
            result = await self.fn(**kwargs)
        else:
            result = await run_in_threadpool(self.fn, **kwargs)
        return as_user(result)


class Handlers:
    """The authorization handlers, resolved as the reference resolves them: (resource,
    action), then (resource, "*"), ("*", action), ("*", "*"), then the global handler."""

    def __init__(self, auth: Auth) -> None:
        self._auth = auth
        self._cache: dict[tuple[str, str], Handler | None] = {}
        self.any = bool(auth._handlers or auth._global_handlers)

    def find(self, resource: str, action: str) -> Handler | None:
        key = (resource, action)
        if key not in self._cache:
            self._cache[key] = self._resolve(resource, action)
        return self._cache[key]

    def _resolve(self, resource: str, action: str) -> Handler | None:
        table = self._auth._handlers
        for candidate in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
            if table.get(candidate):
                return table[candidate][-1]  # the last registered wins
        globals_ = self._auth._global_handlers
        return globals_[-1] if globals_ else None
