"""A request's auth: who the caller is, and ``authorize(resource, action, value)``, which runs
the matching handler and returns the filter (``Scope``) storage applies to what it reads,
counts, changes and deletes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph_sdk.auth.exceptions import HTTPException
from langgraph_sdk.auth.types import AuthContext

from graphyard.api.auth.handlers import Handlers
from graphyard.errors import BadRequest, Forbidden
from graphyard.runs.users import AuthUser
from graphyard.storage import filters
from graphyard.storage.filters import Scope


@dataclass(frozen=True)
class RequestAuth:
    """``user`` is ``None`` without auth (every request allowed, nothing filtered)."""

    user: AuthUser | None = None
    handlers: Handlers | None = None

    async def authorize(self, resource: str, action: str, value: dict[str, Any]) -> Scope:
        """Run the handler for ``resource.action`` on ``value`` (which it may change: stamp
        metadata, rewrite a store namespace). ``None``: allowed, unfiltered; a dict: the
        metadata filter rows must match. A refusal raises 403 (or the handler's own
        ``HTTPException``); a ``ValueError`` 400."""
        if self.handlers is None or self.user is None:
            return None
        handler = self.handlers.find(resource, action)
        if handler is None:
            return None
        ctx = AuthContext(
            permissions=list(self.user.permissions),
            user=self.user,  # AuthUser is a BaseUser
            resource=resource,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except HTTPException:
            raise
        except AssertionError as exc:
            raise Forbidden(str(exc) or "Forbidden") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if result is None or result is True:
            return None
        if result is False:
            raise Forbidden("Forbidden")
        if not isinstance(result, dict):
            raise filters.InvalidFilter(
                f"auth handler for {resource}.{action} returned a {type(result).__name__}: "
                "expected None, a bool or a filter dict"
            )
        filters.check(result)
        return result or None

    def run_configurable(self) -> dict[str, Any]:
        """The ``configurable`` keys a run created by this caller carries (none without auth)."""
        return self.user.run_configurable() if self.user is not None else {}


NOBODY = RequestAuth()
