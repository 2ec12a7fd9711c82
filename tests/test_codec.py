"""The payload codec: AES-256-GCM under key ids, rotation, key parsing, and the API's codec
endpoint (off by default, CORS for the Temporal UI)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from graphyard.codec import CodecError, EncryptionCodec, new_key_line, parse_keys, settings_keys
from graphyard.config import Settings
from graphyard.errors import ConfigError
from tests.canary_stack import canary_stack
from tests.stack import Stack, graphyard_client

K1, K2 = new_key_line("k1"), new_key_line("k2")


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_payloads_are_encrypted_under_the_first_key_and_any_key_decrypts() -> None:
    old = EncryptionCodec(parse_keys(K1, "test"))
    (sealed,) = await old.encode([_payload("hello")])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"hello" not in sealed.data
    rotated = EncryptionCodec(parse_keys(f"{K2},{K1}", "test"))
    assert await rotated.decode([sealed]) == [_payload("hello")]
    (resealed,) = await rotated.encode([_payload("hello")])
    assert resealed.metadata["encryption-key-id"] == b"k2"
    # Plain payloads (written before the codec was on) pass through.
    assert await rotated.decode([_payload("plain")]) == [_payload("plain")]
    with pytest.raises(CodecError, match="'k2'"):
        await old.decode([resealed])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    with pytest.raises(CodecError, match="authentication"):
        await rotated.decode([tampered])


def test_keys_come_from_the_setting_and_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"{K2}\n")
    keys = settings_keys(Settings(codec_keys=K1, codec_key_file=key_file))
    assert [k.key_id for k in keys] == ["k1", "k2"]
    assert "k1:" not in repr(Settings(codec_keys=K1))  # a SecretStr
    short = "k3:" + base64.b64encode(b"x" * 16).decode()
    for bad, message in (
        ("nokey", "entry 1"),
        ("k3:not base64!", "not valid base64"),
        (short, "16 bytes"),
        (f"{K1},{K1}", "repeated: k1"),
    ):
        with pytest.raises(ConfigError, match=message) as caught:
            settings_keys(Settings(codec_keys=bad))
        assert K1.split(":")[1] not in caught.value.detail
    with pytest.raises(ConfigError, match="GRAPHYARD_CODEC_KEY_FILE"):
        settings_keys(Settings(codec_key_file=tmp_path / "missing"))


async def test_the_codec_endpoint_is_off_by_default(api: Stack) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        response = await http.post("/codec/decode", json={"payloads": []})
    assert response.status_code == 404


def test_the_codec_endpoint_needs_keys() -> None:
    from graphyard.api.app import create_app
    from tests.stack import TEST_CONFIG

    with pytest.raises(ConfigError, match="GRAPHYARD_CODEC_KEYS"):
        create_app(Settings(config_path=TEST_CONFIG, codec_endpoint=True))


@pytest.mark.parametrize(
    "settings",
    [{"codec_keys": K1, "codec_endpoint": True, "codec_cors_origins": ["http://ui:8233"]}],
    indirect=True,
)
async def test_the_codec_endpoint_answers_the_temporal_ui(api: Stack) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        preflight = await http.options(
            "/codec/decode",
            headers={"Origin": "http://ui:8233", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://ui:8233"
        assert "x-namespace" in preflight.headers["access-control-allow-headers"]
        other = await http.options("/codec/decode", headers={"Origin": "http://evil:1"})
        assert "access-control-allow-origin" not in other.headers
        plain = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"hi"')}
        encoded = await http.post(
            "/codec/encode", json={"payloads": [plain]}, headers={"Origin": "http://ui:8233"}
        )
        assert encoded.status_code == 200
        assert encoded.headers["access-control-allow-origin"] == "http://ui:8233"
        (sealed,) = encoded.json()["payloads"]
        assert sealed["metadata"]["encryption-key-id"] == _b64(b"k1")
        decoded = await http.post("/codec/decode", json={"payloads": [sealed]})
        assert decoded.json() == {"payloads": [plain]}
        unknown = {**sealed, "metadata": {**sealed["metadata"], "encryption-key-id": _b64(b"k9")}}
        refused = await http.post("/codec/decode", json={"payloads": [unknown]})
        assert refused.status_code == 422
        assert "k9" in refused.json()["detail"]


async def test_rotation_keeps_old_payloads_readable(
    settings: Settings, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A run paused under key k1 resumes after k2 became the active key (a fresh worker
    replays its k1 history), and its k1 payloads still decode through the endpoint."""
    temporal = graphyard_client(temporal_env, settings)
    on = {"GRAPHYARD_CODEC_ENDPOINT": "true"}
    secret = "rotation-secret"
    async with canary_stack(
        settings, temporal, tmp_path, secret, {"GRAPHYARD_CODEC_KEYS": K1, **on}
    ) as stack:
        thread = (await stack.client.threads.create())["thread_id"]
        asked = await stack.client.runs.wait(thread, "canary", input={"text": "a", "mode": "ask"})
        assert "__interrupt__" in asked
        (run,) = await stack.client.runs.list(thread)
    async with canary_stack(
        settings, temporal, tmp_path, secret, {"GRAPHYARD_CODEC_KEYS": f"{K2},{K1}", **on}
    ) as stack:
        done = await stack.client.runs.wait(thread, "canary", command={"resume": "b"})
        assert isinstance(done, dict)
        assert done["answer"] == "b"
        assert (await stack.client.runs.get(thread, run["run_id"]))["status"] == "success"
        history = await temporal_env.client.get_workflow_handle(
            f"run-{run['run_id']}"
        ).fetch_history()
        sealed = [p for p in _encrypted(json.loads(history.to_json()))]
        key_ids = {base64.b64decode(p["metadata"]["encryption-key-id"]) for p in sealed}
        assert key_ids == {b"k1", b"k2"}
        async with httpx.AsyncClient(base_url=stack.url) as http:
            response = await http.post("/codec/decode", json={"payloads": sealed})
        assert response.status_code == 200
        assert all(
            base64.b64decode(p["metadata"]["encoding"]) != b"binary/encrypted"
            for p in response.json()["payloads"]
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _encrypted(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("metadata", {}).get("encoding") == _b64(b"binary/encrypted"):
            return [value]
        for item in value.values():
            found += _encrypted(item)
    elif isinstance(value, list):
        for item in value:
            found += _encrypted(item)
    return found
