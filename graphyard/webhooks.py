"""Webhooks as ``langgraph.json`` configures them (``webhooks``): the URL rules a run's
``webhook`` must meet, the headers every delivery carries, and the signature graphyard adds.

The API checks URLs when a run is created; the worker checks them again, with the address the
host resolves to, when it delivers, and builds the headers from its own environment.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import socket
from typing import Self
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

SIGNATURE_HEADER = "X-Graphyard-Signature"
DEFAULT_PORTS = {"http": 80, "https": 443}
# ``${{ env.NAME }}`` in a header value is replaced by the worker's environment variable NAME.
_ENV_TEMPLATE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class WebhookUrlError(ValueError):
    """A webhook URL the rules refuse; the message says which rule and how to change it."""


class WebhookUrlRules(BaseModel):
    """``webhooks.url``: which URLs a run's ``webhook`` may name. Unknown keys are refused: a
    misspelt rule must not silently allow more than intended."""

    model_config = ConfigDict(extra="forbid")
    require_https: bool = False
    # Host names (``*.example.com`` matches its subdomains) a URL must use; unset: any host.
    allowed_domains: list[str] | None = None
    allowed_ports: list[int] | None = None
    max_url_length: int = Field(default=4096, ge=1)
    disable_loopback: bool = True


class WebhooksConfig(BaseModel):
    """``webhooks`` in langgraph.json, as the reference reads it."""

    model_config = ConfigDict(extra="allow")
    env_prefix: str = "LG_WEBHOOK_"
    url: WebhookUrlRules = Field(default_factory=WebhookUrlRules)
    headers: dict[str, str] = Field(default_factory=dict)
    # Only these keys of the payload are sent (unset: all of them).
    allowed_fields: list[str] | None = None

    @model_validator(mode="after")
    def _headers_read_prefixed_variables(self) -> Self:
        for name, value in self.headers.items():
            for var in _ENV_TEMPLATE.findall(value):
                if not var.startswith(self.env_prefix):
                    raise ValueError(
                        f"headers.{name} reads ${{{{ env.{var} }}}}, which does not start with "
                        f"env_prefix {self.env_prefix!r}: rename the variable or set "
                        "webhooks.env_prefix"
                    )
        return self

    def resolved_headers(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The configured headers with ``${{ env.NAME }}`` replaced from ``environ`` (the
        process environment by default); ``KeyError`` names a variable that is not set."""
        env = os.environ if environ is None else environ

        def value(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise KeyError(f"environment variable {var} (webhooks.headers) is not set")
            return env[var]

        return {name: _ENV_TEMPLATE.sub(value, text) for name, text in self.headers.items()}


def check_url(url: str, rules: WebhookUrlRules) -> SplitResult:
    """The parsed URL if ``rules`` allow it; ``WebhookUrlError`` says why not."""
    if len(url) > rules.max_url_length:
        raise WebhookUrlError(
            f"Webhook URL is {len(url)} characters long; webhooks.url.max_url_length allows "
            f"{rules.max_url_length}."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"Webhook URL is invalid: {exc}.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise WebhookUrlError(
            f"Webhook URL must be an absolute http(s) URL with a host, got {url!r}."
        )
    if rules.require_https and parts.scheme != "https":
        raise WebhookUrlError(
            "Webhook URL must use https (webhooks.url.require_https is set in langgraph.json)."
        )
    host = parts.hostname.rstrip(".").lower()
    if rules.disable_loopback and is_loopback_host(host):
        raise WebhookUrlError(
            f"Webhook URL host {host!r} is a loopback address; loopback webhooks are refused "
            "unless langgraph.json sets webhooks.url.disable_loopback to false."
        )
    if rules.allowed_domains is not None and not any(
        domain_matches(host, pattern) for pattern in rules.allowed_domains
    ):
        raise WebhookUrlError(
            f"Webhook URL host {host!r} is not in webhooks.url.allowed_domains "
            f"({', '.join(rules.allowed_domains) or 'empty'})."
        )
    effective = port if port is not None else DEFAULT_PORTS[parts.scheme]
    if rules.allowed_ports is not None and effective not in rules.allowed_ports:
        raise WebhookUrlError(
            f"Webhook URL port {effective} is not in webhooks.url.allowed_ports "
            f"({', '.join(map(str, rules.allowed_ports)) or 'empty'})."
        )
    return parts


def domain_matches(host: str, pattern: str) -> bool:
    """``*.example.com`` matches any subdomain of example.com (not example.com itself);
    another pattern matches exactly; ``*`` matches every host. Case-insensitive."""
    pattern = pattern.rstrip(".").lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        # The forms resolvers also accept for IPv4: "127.1", "0x7f.1", "2130706433".
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_loopback_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, or the unspecified address (which connects to this host)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine without a lookup: ``localhost`` (and its
    subdomains) or a loopback address literal."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and is_loopback_ip(ip)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Graphyard-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
