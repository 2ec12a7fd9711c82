"""What the API authenticates with: langgraph.json's ``auth.path`` (a ``langgraph_sdk.Auth``),
the built-in API keys, both, or neither (``None``: no auth, every request allowed)."""

from __future__ import annotations

from dataclasses import dataclass

from langgraph_sdk import Auth

from graphyard.api.auth import apikeys
from graphyard.api.auth.cache import AuthCache
from graphyard.api.auth.handlers import Authenticator, Handlers
from graphyard.config import Settings
from graphyard.errors import ConfigError
from graphyard.graphs import LoadedConfig
from graphyard.specs import import_target


@dataclass(frozen=True)
class AuthBackend:
    api_keys: list[apikeys.ApiKey]
    authenticator: Authenticator | None
    handlers: Handlers | None


def load_auth(settings: Settings, config: LoadedConfig) -> AuthBackend | None:
    """Load the auth langgraph.json and the settings configure; errors are ``ConfigError``."""
    keys = apikeys.load(settings)
    spec = config.project.auth.path if config.project.auth else None
    if spec is None:
        return AuthBackend(keys, None, None) if keys else None
    where = f"{config.path}: key auth.path"
    auth = import_target(config.path, "auth.path", spec)
    if not isinstance(auth, Auth):
        raise ConfigError(f"{where}: {spec!r} is a {type(auth).__name__}, not a langgraph_sdk.Auth")
    if auth._authenticate_handler is None:
        raise ConfigError(
            f"{where}: {spec!r} has no authenticate handler; register one with @auth.authenticate"
        )
    handlers = Handlers(auth)
    extra = config.project.auth.model_extra if config.project.auth else None
    cache = AuthCache.from_config((extra or {}).get("cache"), str(config.path))
    authenticator = Authenticator(auth._authenticate_handler, where, cache)
    return AuthBackend(keys, authenticator, handlers if handlers.any else None)
