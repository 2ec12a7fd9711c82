"""JSON for the wire and for Postgres ``jsonb``: graph values (messages, interrupts, pydantic and
dataclass objects) rendered the way the reference server renders them."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
from langgraph.types import Interrupt, Send
from pydantic import BaseModel

from graphyard.errors import Unserializable

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATACLASS


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Interrupt):
        return interrupt_json(obj, stream=False)
    if isinstance(obj, Send):
        return {"node": obj.node, "arg": obj.arg}
    if isinstance(obj, Mapping):  # before dataclasses: the auth user is both
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return obj.to_json()
    return repr(obj)


# A JSON-escaped NUL: ``\u0000`` after an even number of backslashes.
_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def dumps(obj: Any) -> bytes:
    """Serialize to JSON bytes; unknown objects fall back to their ``repr``.

    What Postgres cannot store is replaced as the reference server replaces it: NUL by U+FFFD,
    lone surrogates by ``?``.
    """
    try:
        data = orjson.dumps(obj, default=_default, option=_OPTIONS)
    except TypeError:
        # Integers beyond 64 bits, lone surrogates and values nested 255 levels or deeper are
        # valid Python values orjson refuses.
        try:
            text = json.dumps(
                _clean(obj), default=_default, ensure_ascii=False, separators=(",", ":")
            )
        except (RecursionError, ValueError) as exc:
            # Nested deeper than Python's recursion limit, or circular: never a bare 500.
            raise Unserializable(f"value cannot be serialized as JSON: {exc}") from None
        data = text.encode()
    if b"\\u0000" in data:
        data = _NUL.sub(rb"\1\\ufffd", data)
    return data


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # as orjson writes them: Postgres jsonb has no NaN or Infinity
    if isinstance(obj, str):
        return obj.encode("utf-8", "replace").decode()
    if isinstance(obj, dict):
        return {_clean(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def dumps_str(obj: Any) -> str:
    """``dumps`` as text, for psycopg's ``Jsonb(dumps=...)``."""
    return dumps(obj).decode()


def loads(data: bytes | str) -> Any:
    """Parse JSON."""
    return orjson.loads(data)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types (dict, list, str, ...) for ``obj``."""
    return orjson.loads(dumps(obj))


def interrupt_json(item: Interrupt, *, stream: bool) -> dict[str, Any]:
    """An interrupt as clients read it. Streams (and wait/join bodies) carry an explicit
    ``response_schema: null``; thread and state payloads omit it unless set."""
    out: dict[str, Any] = {"value": to_jsonable(item.value), "id": item.id}
    schema = getattr(item, "response_schema", None)
    if stream or schema is not None:
        out["response_schema"] = to_jsonable(schema)
    return out
