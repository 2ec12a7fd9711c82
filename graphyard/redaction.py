"""Known secret values of this process, and masking them out of text graphyard records.

A worker registers the values of its secret-looking environment variables (``env`` of
langgraph.json and the process environment: ``*_KEY``, ``*_TOKEN``, ``*PASSWORD*``, ...). Log
lines, error messages that end up in run rows, Temporal failures and stream events, and the
error writes LangGraph checkpoints all pass through :func:`mask` (error messages and logs also
through :func:`redact`, which masks credential-looking text too), so a node whose exception
names its API key does not copy that key out of the worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MASK = "***"
# Shorter values would mask ordinary words everywhere.
MIN_SECRET_LENGTH = 6

_secrets: set[str] = set()

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE", re.I)

# Every pattern here (and in the API's secret check) runs on text an attacker chooses (request
# URLs in access logs, exception messages), so each must stay linear in its input: a match can
# start only at a literal ("://", a keyword at a word boundary), and no unbounded repetition is
# tried again from a later start over the same characters. Possessive quantifiers say that
# nothing is given back (the classes stop where the next part begins anyway). A run of 40,000
# dots made the old pattern, which let the scheme start anywhere, take 20 s.
#
# scheme://user:password@host (the scheme as one character before "://").
URL_PASSWORD = re.compile(r"(?<=[a-z0-9+.-])(://[^:/\s@]++:)[^@\s/]++@", re.I)
_PATTERNS = (
    (URL_PASSWORD, r"\1***@"),
    # api_key=..., "password": "...", Authorization: Bearer ...
    (
        re.compile(
            r"""(\b(?:api[_-]?key|password|passwd|secret|token|authorization)\b["']?\s*+[:=]\s*+"""
            r"""["']?(?:bearer\s++)?)[^\s"',;}]++""",
            re.I,
        ),
        r"\1***",
    ),
)
# Longer text is cut before it is scanned: a log line or an error message of a megabyte says
# nothing more than its first 64 KiB, and the scan stays short wherever it runs.
REDACT_LIMIT = 64 * 1024


def register_secrets(env: Mapping[str, str]) -> None:
    """Mask the values of the secret-looking variables of ``env`` from now on."""
    _secrets.update(
        value
        for name, value in env.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    )


def register_environment() -> None:
    """Register the secret-looking variables of this process's environment."""
    register_secrets(dict(os.environ))


def has_secrets() -> bool:
    return bool(_secrets)


def mask(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str, limit: int = REDACT_LIMIT) -> str:
    """``text`` with registered secrets and credential-looking values (URI passwords,
    ``api_key=...``, bearer tokens) masked: for logs and error messages, not for data.

    Text longer than ``limit`` characters is cut to them first, and then to its last
    whitespace, so that no credential cut in two leaves its first half unmasked."""
    cut = ""
    if len(text) > limit:
        head = text[:limit]
        kept = max(head.rfind(c) for c in " \n\t")
        cut = f"... [{len(text) - max(kept, 0)} characters cut]"
        text = head[: max(kept, 0)]
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return mask(text) + cut
