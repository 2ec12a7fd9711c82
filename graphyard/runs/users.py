"""The authenticated user: what ``@auth.authenticate`` returned, in one shape (``BaseUser``:
attributes and item access), and the part of it a run's graph sees."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphyard.errors import Unauthorized

# The configurable keys a run's graph finds its user under (clients cannot set them).
USER_KEY = "langgraph_auth_user"
USER_ID_KEY = "langgraph_auth_user_id"
PERMISSIONS_KEY = "langgraph_auth_permissions"
_BASE = ("identity", "display_name", "permissions", "is_authenticated")


@dataclass(frozen=True)
class AuthUser(Mapping[str, Any]):
    """A user as handlers and graphs see it (``ctx.user``, ``langgraph_auth_user``):
    ``.identity`` and ``["identity"]`` alike."""

    identity: str
    display_name: str
    permissions: tuple[str, ...] = ()
    is_authenticated: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "identity": self.identity,
            "display_name": self.display_name,
            "permissions": list(self.permissions),
            "is_authenticated": self.is_authenticated,
        }

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in _BASE or key in self.extra

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __getattr__(self, name: str) -> Any:
        # Extra fields of a returned dict read as attributes too, as on the reference's user.
        extra = object.__getattribute__(self, "extra")
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def run_configurable(self) -> dict[str, Any]:
        """What reaches the graph in ``config["configurable"]``."""
        return {
            USER_KEY: self.as_dict(),
            USER_ID_KEY: self.identity,
            PERMISSIONS_KEY: list(self.permissions),
        }


def _permissions(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Unauthorized("Invalid user: permissions must be a list of strings")
    return tuple(str(p) for p in value)


def as_user(result: Any) -> AuthUser:
    """The user an authenticate handler returned: an identity string, a dict with
    ``identity``, or an object with an ``identity`` attribute. Anything else is 401."""
    if isinstance(result, AuthUser):
        return result
    if isinstance(result, str) and result:
        return AuthUser(identity=result, display_name=result)
    if isinstance(result, Mapping):
        identity = result.get("identity")
        if not isinstance(identity, str) or not identity:
            raise Unauthorized("Invalid user: 'identity' must be a non-empty string")
        extra = {k: v for k, v in result.items() if k not in _BASE}
        return AuthUser(
            identity=identity,
            display_name=str(result.get("display_name") or identity),
            permissions=_permissions(result.get("permissions")),
            is_authenticated=bool(result.get("is_authenticated", True)),
            extra=extra,
        )
    identity = getattr(result, "identity", None)
    if isinstance(identity, str) and identity:
        return AuthUser(
            identity=identity,
            display_name=str(getattr(result, "display_name", None) or identity),
            permissions=_permissions(getattr(result, "permissions", None)),
            is_authenticated=bool(getattr(result, "is_authenticated", True)),
        )
    raise Unauthorized("Unauthorized")
