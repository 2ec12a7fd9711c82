"""The data converter of every Temporal client graphyard builds: pydantic JSON payloads (one
cache of type adapters per process), the optional encryption codec, and failures whose messages
and stack traces have known secrets masked (and, with the codec on, are encrypted too).

temporalio's pydantic converter caches its ``TypeAdapter``s per converter instance, and a
worker builds a new payload converter for every workflow it runs: each run rebuilt the adapters
of its input and of its step results (5 % of a loaded worker's CPU, profiled). Adapters are
immutable, so sharing them is safe.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadConverter,
)

from graphyard import codec
from graphyard.config import Settings
from graphyard.redaction import redact


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


class GraphyardPayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, JSON replaced by ``SharedAdaptersJSONConverter``."""

    def __init__(self) -> None:
        json = SharedAdaptersJSONConverter()
        super().__init__(
            *(
                json if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


# Plain: for replaying histories and for clients that carry no payload.
DATA_CONVERTER = DataConverter(payload_converter_class=GraphyardPayloadConverter)


# What DefaultFailureConverter writes in place of an encoded failure's message.
_ENCODED = "Encoded failure"


class RedactingFailureConverter(DefaultFailureConverter):
    """Masks registered secrets (and credential-looking text) in each failure's message and
    stack trace before they are recorded in Temporal history. A node's exception chained
    under the step's error is a cause in the same failure: it is masked too."""

    def __init__(self, *, encode_common_attributes: bool = False) -> None:
        # The base class would encode the texts before this class masks them: it never
        # encodes, this class does after masking.
        super().__init__()
        self._encode_texts = encode_common_attributes

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        # A failure decoded earlier (an activity's, re-raised by a workflow) is copied whole,
        # causes included, and holds its texts decoded: every level is (re)masked and encoded.
        level: Failure | None = failure
        while level is not None:
            self._seal(level, payload_converter)
            level = level.cause if level.HasField("cause") else None

    def _seal(self, failure: Failure, payload_converter: PayloadConverter) -> None:
        if failure.message == _ENCODED and not failure.stack_trace:
            return
        failure.message = redact(failure.message)
        failure.stack_trace = redact(failure.stack_trace)
        if self._encode_texts:
            attributes = {"message": failure.message, "stack_trace": failure.stack_trace}
            failure.encoded_attributes.CopyFrom(payload_converter.to_payloads([attributes])[0])
            failure.message, failure.stack_trace = _ENCODED, ""


class EncodedRedactingFailureConverter(RedactingFailureConverter):
    """With the codec on: failure messages and stack traces travel as an (encrypted) payload."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def data_converter(settings: Settings) -> DataConverter:
    """pydantic payloads; with codec keys set, encrypted payloads and failure texts."""
    payload_codec = codec.from_settings(settings)
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=payload_codec,
        failure_converter_class=EncodedRedactingFailureConverter
        if payload_codec is not None
        else RedactingFailureConverter,
    )
