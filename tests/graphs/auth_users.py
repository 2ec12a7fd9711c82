"""Custom auth for tests/test_auth.py: bearer tokens name three users; each owns what it
creates (``metadata.owner``), may read threads shared with it, and has its own store namespace.
``mallory`` is refused everything."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

# The extra ``team`` field reaches the graph; the token never does.
USERS: dict[str, dict[str, Any]] = {
    "token-alice-0123456789": {
        "identity": "alice",
        "display_name": "Alice",
        "permissions": ["threads:write"],
        "team": "red",
    },
    "token-bob-0123456789": {"identity": "bob", "permissions": []},
    "token-mallory-0123456789": {"identity": "mallory"},
    # May decode payloads at the codec endpoint (an operator of the Temporal UI).
    "token-oscar-0123456789": {"identity": "oscar", "permissions": ["graphyard:codec"]},
}


# Every token the handler was asked about (langgraph.json caches what it answered).
AUTHENTICATED: list[str] = []


@auth.authenticate
async def authenticate(authorization: str | None, method: str, path: str) -> dict[str, Any]:
    scheme, _, token = (authorization or "").partition(" ")
    AUTHENTICATED.append(token)
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing bearer token")
    user = USERS.get(token)
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    return user


def _stamp(ctx: Auth.types.AuthContext, value: Any) -> None:
    if ctx.action in ("create", "create_run") and isinstance(value, dict):
        metadata = value.get("metadata")
        if metadata is None:
            metadata = value["metadata"] = {}
        metadata["owner"] = ctx.user.identity


@auth.on.threads
async def threads(ctx: Auth.types.AuthContext, value: Any) -> Any:
    if ctx.user.identity == "mallory":
        return False
    _stamp(ctx, value)
    if ctx.action in ("read", "search"):
        return {
            "$or": [
                {"owner": ctx.user.identity},
                {"shared_with": {"$contains": ctx.user.identity}},
            ]
        }
    return {"owner": ctx.user.identity}


@auth.on.assistants
async def assistants(ctx: Auth.types.AuthContext, value: Any) -> Any:
    assert ctx.user.identity != "mallory", "mallory may not touch assistants"
    _stamp(ctx, value)
    return {"owner": {"$eq": ctx.user.identity}}


@auth.on(resources="assistants", actions=["read", "search"])
async def assistants_read(ctx: Auth.types.AuthContext, value: Any) -> Any:
    # The graphs' own assistants are everyone's to read and run.
    return {"$or": [{"owner": ctx.user.identity}, {"created_by": "system"}]}


@auth.on.crons
async def crons(ctx: Auth.types.AuthContext, value: Any) -> Any:
    _stamp(ctx, value)
    return {"owner": ctx.user.identity}


@auth.on.store
async def store(ctx: Auth.types.AuthContext, value: Any) -> None:
    namespace = tuple(value.get("namespace") or ())
    value["namespace"] = (ctx.user.identity, *namespace)


@auth.on
async def deny_the_rest(ctx: Auth.types.AuthContext, value: Any) -> bool:
    return False
