"""The optional Temporal payload codec: AES-256-GCM with key ids, so keys can rotate.

Every payload graphyard's clients and workers send to Temporal (workflow and activity inputs and
results, signals, updates, queries, memos, failure details and, with the codec on, failure
messages and stack traces) is encrypted before it leaves the process. Search attributes are
not payloads a codec sees: graphyard puts only ids and statuses there.

An encrypted payload's metadata says ``encoding: binary/encrypted`` and
``encryption-key-id: <id>``; its data is a 12-byte nonce followed by the ciphertext of the
original payload (serialized protobuf), authenticated together with the key id.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from graphyard.config import Settings
from graphyard.errors import ConfigError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class CodecError(ValueError):
    """A payload this codec cannot decrypt (an unknown key id, or tampered data)."""


@dataclass(frozen=True)
class CodecKey:
    key_id: str
    key: bytes


def new_key_line(key_id: str) -> str:
    """A fresh ``id:base64key`` entry (``graphyard codec new-key``)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def parse_keys(text: str, source: str) -> list[CodecKey]:
    """``id:base64key`` entries separated by commas or newlines; errors name the entry's
    position and id, never the key."""
    keys: list[CodecKey] = []
    entries = [e.strip() for e in text.replace("\n", ",").split(",") if e.strip()]
    for n, entry in enumerate(entries, 1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise ConfigError(f"{source}: entry {n} is not `id:base64key`")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{source}: key {key_id!r} is not valid base64") from None
        if len(key) != _KEY_BYTES:
            raise ConfigError(
                f"{source}: key {key_id!r} has {len(key)} bytes; AES-256 needs 32 "
                "(make one with `graphyard codec new-key`)"
            )
        keys.append(CodecKey(key_id, key))
    return keys


def settings_keys(settings: Settings) -> list[CodecKey]:
    """The codec keys of the settings (``codec_keys``, then ``codec_key_file``'s)."""
    keys: list[CodecKey] = []
    if settings.codec_keys is not None:
        keys += parse_keys(settings.codec_keys.get_secret_value(), "GRAPHYARD_CODEC_KEYS")
    if settings.codec_key_file is not None:
        path = settings.codec_key_file
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"GRAPHYARD_CODEC_KEY_FILE {path}: {exc.strerror}") from None
        keys += parse_keys(text, f"GRAPHYARD_CODEC_KEY_FILE {path}")
    ids = [k.key_id for k in keys]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        raise ConfigError(f"codec key ids must be unique; repeated: {', '.join(duplicates)}")
    return keys


def from_settings(settings: Settings) -> EncryptionCodec | None:
    """The codec the settings configure, or ``None`` (payloads stay plain)."""
    keys = settings_keys(settings)
    return EncryptionCodec(keys) if keys else None


class EncryptionCodec(PayloadCodec):
    """Encrypts with the first key; decrypts with whichever key a payload names."""

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self._active = keys[0].key_id
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}

    @property
    def active_key_id(self) -> str:
        return self._active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._active.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._active].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one not encrypted by this codec passes through unchanged
        (histories written before the codec was turned on stay readable)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with key id {key_id!r}, which is not configured")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise CodecError(f"payload under key id {key_id!r} failed authentication") from None
        return Payload.FromString(plain)
