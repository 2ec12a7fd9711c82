"""The built-in API-key mode: ``GRAPHYARD_API_KEYS`` (and ``GRAPHYARD_API_KEYS_FILE``) name the
keys; a request presents one in ``x-api-key``. The caller's identity is the key's name, or a
short hash of it: never the key itself."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from graphyard import redaction
from graphyard.config import Settings
from graphyard.errors import ConfigError

HEADER = "x-api-key"


@dataclass(frozen=True)
class ApiKey:
    name: str
    secret: bytes


def _parse(text: str, origin: str) -> list[ApiKey]:
    keys = []
    for raw in re.split(r"[,\n]", text):
        entry = raw.split("#", 1)[0].strip() if origin != "api_keys" else raw.strip()
        if not entry:
            continue
        name, sep, secret = entry.partition(":")
        if not sep:
            name, secret = "key-" + hashlib.sha256(entry.encode()).hexdigest()[:8], entry
        name, secret = name.strip(), secret.strip()
        if not name or not secret:
            raise ConfigError(f"{origin}: an API key entry must be `name:key` or a bare key")
        keys.append(ApiKey(name, secret.encode()))
    return keys


def load(settings: Settings) -> list[ApiKey]:
    """The configured keys (none: API-key mode is off)."""
    keys = _parse(settings.api_keys.get_secret_value(), "api_keys") if settings.api_keys else []
    if settings.api_keys_file is not None:
        try:
            text = settings.api_keys_file.read_text()
        except OSError as exc:
            raise ConfigError(f"api_keys_file {settings.api_keys_file}: {exc}") from None
        keys += _parse(text, str(settings.api_keys_file))
    if settings.api_keys_file is not None and not keys:
        raise ConfigError(f"api_keys_file {settings.api_keys_file} holds no API key")
    # A key that ever reaches a log line is masked there.
    redaction.register_secrets({f"API_KEY_{k.name}": k.secret.decode() for k in keys})
    return keys


def match(keys: list[ApiKey], presented: str | None) -> str | None:
    """The name of the key ``presented`` is, or ``None``. Every key is compared, in constant
    time, so timing tells nothing about which one nearly matched."""
    if not presented:
        return None
    given = presented.encode()
    found = None
    for key in keys:
        if hmac.compare_digest(key.secret, given):
            found = key.name
    return found
