"""The Temporal data converter: temporalio's pydantic JSON converter, with one cache of type
adapters per process.

The contrib converter caches its ``TypeAdapter``s per converter instance, and a worker builds
a new payload converter for every workflow it runs: each run rebuilt the adapters of its input
and of its step results (5 % of a loaded worker's CPU, profiled). Adapters are immutable, so
sharing them is safe.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


@functools.lru_cache(maxsize=1024)
def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


class SharedAdaptersJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON, decoding through the process-wide adapter cache."""

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint: Any = Any if type_hint is None else type_hint
        try:
            adapter = _adapter(hint)
        except TypeError:
            # An unhashable hint cannot be cached (a TypeError building the adapter can).
            try:
                hash(hint)
            except TypeError:
                adapter = TypeAdapter(hint)
            else:
                raise
        return adapter.validate_json(payload.data)


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, JSON replaced by ``SharedAdaptersJSONConverter``."""

    def __init__(self) -> None:
        json = SharedAdaptersJSONConverter()
        super().__init__(
            *(
                json if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)
