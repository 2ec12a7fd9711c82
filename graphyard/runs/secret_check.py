"""Refuse secrets in assistant, run and cron ``config`` / ``context`` / ``metadata``, and in
thread ``metadata``.

Those values are stored in Postgres (assistant versions, run kwargs, cron payloads, thread
rows), returned by the API and shown in the Temporal UI's links: a secret there is a secret
leaked. Secrets belong in the workers' environment (``env`` of langgraph.json), where graph
code reads them.

A value is refused when its key names a credential (``api_key``, ``password``, ``token``,
``client_secret``, ...) and it holds a non-empty scalar, or when a string anywhere has the
shape of a well-known credential (``sk-...``, ``ghp_...``, ``AKIA...``, a JWT, a PEM private
key, ``Bearer ...``, a URL with a password). Near misses such as ``max_tokens``,
``token_count`` or ``tokenizer`` pass. ``GRAPHYARD_SECRET_CHECK_ALLOW`` lets key names or
dotted paths (glob patterns) through; ``GRAPHYARD_SECRET_CHECK=false`` turns the check off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from graphyard.config import Settings
from graphyard.errors import Unprocessable
from graphyard.redaction import URL_PASSWORD

DOCS = "docs/secrets.md"

# Each pattern runs on request data: linear in it, as graphyard.redaction explains.
# A key is split into lowercase words: "clientSecret", "client-secret" -> client, secret.
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# Words that make a key a credential wherever they stand in it.
_ANYWHERE = frozenset({"password", "passwd", "passphrase", "secret", "credential", "credentials"})
# Words that make a key a credential when they end it ("access_token", not "token_count").
_LAST = frozenset({"token", "authorization", "apikey", "bearer"})
# "<qualifier>_key" is a credential ("api_key", "private_key"); a bare "key" is not.
_KEY_QUALIFIERS = frozenset(
    {"api", "private", "access", "secret", "signing", "encryption", "client", "auth", "master"}
)

# (kind, pattern, literals): the pattern is tried only on a value holding one of its literals
# (``in`` is a fast scan; a value of a megabyte takes milliseconds, not a pattern per byte).
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    (
        "an OpenAI or Anthropic API key",
        re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"),
        ("sk-",),
    ),
    (
        "a Stripe key",
        re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("k_live_", "k_test_"),
    ),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"),
        ("gh",),
    ),
    ("a Slack token", re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}"), ("xox",)),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), ("AKIA", "ASIA")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("AIza",)),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), ("hf_",)),
    (
        "a JSON Web Token",
        # Starts only where a run of the alphabet starts: from every "eyJ" inside one run
        # the scan to its end took time quadratic in the run.
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8}"
        ),
        (".eyJ",),
    ),
    (
        "a PEM private key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        ("-----BEGIN ",),
    ),
    (
        "an Authorization header",
        re.compile(r"^\s*(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/-]{12,}=*\s*$", re.I),
        (),  # anchored at the start: one try
    ),
    ("a URL with a password", URL_PASSWORD, ("://",)),
)


def secret_key_name(key: str) -> bool:
    """Whether a key names a credential (``api_key``, ``clientSecret``, ``access_token``)."""
    words = [w.lower() for w in _WORD.findall(key)]
    if not words:
        return False
    if _ANYWHERE.intersection(words) or words[-1] in _LAST:
        return True
    return len(words) >= 2 and words[-1] == "key" and words[-2] in _KEY_QUALIFIERS


def secret_value_kind(value: str) -> str | None:
    """What kind of credential ``value`` looks like, or ``None``."""
    for kind, pattern, literals in _VALUE_PATTERNS:
        if (not literals or any(lit in value for lit in literals)) and pattern.search(value):
            return kind
    return None


def _scalar(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    return (isinstance(value, str) and value.strip() != "") or isinstance(value, int | float)


def find_secrets(value: Any, path: str, allow: list[str]) -> Iterator[tuple[str, str]]:
    """(path, reason) of each secret-looking value under ``value``, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}"
            if any(fnmatchcase(str(key), a) or fnmatchcase(sub, a) for a in allow):
                continue
            if secret_key_name(str(key)) and _scalar(item):
                yield sub, f"the key {key!r} names a credential"
            else:
                yield from find_secrets(item, sub, allow)
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from find_secrets(item, f"{path}[{n}]", allow)
    elif isinstance(value, str) and (kind := secret_value_kind(value)):
        yield path, f"its value looks like {kind}"


def check(settings: Settings, what: str, **fields: Any) -> None:
    """422 naming the first secret-looking value among ``fields`` (never echoing it)."""
    if not settings.secret_check:
        return
    for name, value in fields.items():
        for path, reason in find_secrets(value, name, settings.secret_check_allow):
            raise Unprocessable(
                f"{path} looks like a secret ({reason}): secrets do not belong in {what} "
                "config, context or metadata, which are stored and returned by the API. Put "
                "it in the worker's environment (`env` in langgraph.json, or a mounted secret) "
                f"and read it in the graph; see {DOCS}. If it is not a secret, allow it with "
                f"GRAPHYARD_SECRET_CHECK_ALLOW={path}."
            )
