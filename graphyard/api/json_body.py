"""Request bodies parsed as JSON and held to what graphyard can store, serialize and run.

orjson (the wire, Postgres ``jsonb``) and msgpack (LangGraph's checkpoints) both refuse values
nested 255 levels deep and integers beyond 64 bits; a body that passed here never reaches them
with either. Checked once, in time linear in the body, before anything is stored.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from graphyard.errors import Unprocessable

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# A path is kept as links (parent, key) so that a deep walk never copies it.
_Link = tuple[Any, str | int] | None


class _Huge:
    """An integer literal too long for 64 bits, left unconverted (``int()`` of a 5,000-digit
    literal raises, and costs quadratic time before it does)."""


_HUGE = _Huge()


def _parse_int(text: str) -> int | _Huge:
    return int(text) if len(text) <= 20 else _HUGE


def _object(value: dict[str, Any]) -> dict[str, Any]:
    # A Python call per object lets the parsing thread hand the GIL back to the event loop;
    # the C decoder alone holds it for the whole body (a second for 40 MB of messages).
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse(body: bytes, max_depth: int) -> Any:
    """``body`` as JSON, or ``Unprocessable`` naming the broken limit and where it broke."""
    try:
        value = json.loads(
            body, object_hook=_object, parse_int=_parse_int, parse_constant=_refuse_constant
        )
    except RecursionError:
        # Deeper than Python's decoder goes (about 1,000 levels): find where from the text.
        raise Unprocessable(_too_deep(_deep_path_in_text(body, max_depth), max_depth)) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise Unprocessable("Invalid JSON in request body") from None
    check(value, max_depth)
    return value


def check(value: Any, max_depth: int) -> None:
    """Raise ``Unprocessable`` if ``value`` nests deeper than ``max_depth`` containers or holds
    a number graphyard cannot store."""
    if type(value) is not dict and type(value) is not list:
        _check_scalar(value, None, None)
        return
    stack: list[tuple[Any, int, _Link]] = [(value, 1, None)]
    while stack:
        container, depth, link = stack.pop()
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            kind = type(item)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    raise Unprocessable(_too_deep(_path(link, key), max_depth))
                if item:
                    stack.append((item, depth + 1, (link, key)))
            elif kind is int or kind is float or item is _HUGE:
                _check_scalar(item, link, key)


def _check_scalar(item: Any, link: _Link, key: str | int | None) -> None:
    if item is _HUGE or (type(item) is int and not INT_MIN <= item <= INT_MAX):
        where = _path(link, key) if key is not None else "the body"
        raise Unprocessable(
            f"Integer beyond the 64-bit range [-2**63, 2**63-1] at {where}: graphyard stores "
            "integers as 64-bit (send larger numbers as strings)"
        )
    if type(item) is float and math.isinf(item):
        where = _path(link, key) if key is not None else "the body"
        raise Unprocessable(f"Number beyond the range of a 64-bit float at {where}")


def _too_deep(path: str, max_depth: int) -> str:
    return f"JSON nested deeper than {max_depth} levels (GRAPHYARD_MAX_JSON_DEPTH) at {path}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")
_SHOWN = 6  # leading segments of a long path kept in a message, and 3 trailing ones


def _path(link: _Link, key: str | int) -> str:
    keys: list[str | int] = [key]
    while link is not None:
        link, parent_key = link
        keys.append(parent_key)
    keys.reverse()
    return _render(keys)


def _render(keys: list[str | int]) -> str:
    """``metadata.a.a.a.a.a…(94 more)….a.a.a``: bounded, whatever the path's length."""
    parts = [_segment(k) for k in keys]
    if len(parts) > _SHOWN + 3:
        hidden = len(parts) - _SHOWN - 3
        parts = [*parts[:_SHOWN], f"…({hidden} more)…", *parts[-3:]]
    text = "".join(parts)
    return text[1:] if text.startswith(".") else text


def _segment(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    shown = key if len(key) <= 40 else key[:40] + "…"
    return f"[{json.dumps(shown, ensure_ascii=False)}]"


# Strings whole (the unrolled form is linear, and every string here is terminated: the text
# parsed up to the point where Python's decoder gave up), and the structural characters.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')


def _deep_path_in_text(body: bytes, max_depth: int) -> str:
    """The path to the first container nested deeper than ``max_depth``, read from the text of
    a body too deep to parse. Stops there: linear in the bytes before it."""
    keys: list[str | int] = []  # per open container: its current key or index
    objects: list[bool] = []
    want_key = False
    for match in _TOKENS.finditer(body):
        token = match.group()
        first = token[:1]
        if first == b'"':
            if want_key:
                keys[-1] = json.loads(token)
                want_key = False
        elif first in (b"{", b"["):
            if len(keys) >= max_depth:
                return _render(keys)
            objects.append(first == b"{")
            keys.append("" if objects[-1] else 0)
            want_key = objects[-1]
        elif first in (b"}", b"]"):
            if keys:
                keys.pop()
                objects.pop()
            want_key = False
        elif keys:  # a comma
            if objects[-1]:
                want_key = True
            else:
                index = keys[-1]
                keys[-1] = index + 1 if isinstance(index, int) else 0
    return "an unknown path"
