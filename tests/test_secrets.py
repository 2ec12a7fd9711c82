"""A canary secret given to a graph through langgraph.json's ``env`` is used by its node, and
afterwards appears nowhere, nor does the API key every request carried: not in the Temporal
histories, a full pg_dump, the logs of the API and worker processes, nor the raw bytes of the
API's responses and SSE streams. With the
payload codec on, a distinctive input is unreadable in raw history and readable through the
API's codec endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from graphyard.codec import new_key_line
from graphyard.config import Settings
from tests.canary_stack import CanaryStack, canary_stack
from tests.sinks import occurrences
from tests.stack import graphyard_client

pytestmark = pytest.mark.slow

STREAM_MODES = ["values", "updates", "messages-tuple", "debug", "tasks", "events", "checkpoints"]


def digest(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


async def _stream(stack: CanaryStack, thread_id: str, **kwargs: Any) -> list[Any]:
    return [
        part
        async for part in stack.client.runs.stream(
            thread_id, "canary", stream_mode=STREAM_MODES, **kwargs
        )
    ]


def _last_values(parts: list[Any]) -> dict[str, Any]:
    values: dict[str, Any] = [p.data for p in parts if p.event == "values"][-1]
    return values


async def drive(stack: CanaryStack, secret: str, text: str) -> str:
    """Runs of every kind through langgraph-sdk: wait, stream, an interrupt answered with
    ``text``, and a failing run whose error quotes the secret and ``text``; the digest of the
    first run (it appears where the run's output goes)."""
    client = stack.client
    thread = (await client.threads.create())["thread_id"]
    waited = await client.runs.wait(thread, "canary", input={"text": "waited"})
    assert isinstance(waited, dict)
    assert waited["digest"] == digest(secret, "waited")

    thread = (await client.threads.create())["thread_id"]
    parts = await _stream(stack, thread, input={"text": "streamed"})
    assert _last_values(parts)["digest"] == digest(secret, "streamed")

    thread = (await client.threads.create())["thread_id"]
    asked = await client.runs.wait(thread, "canary", input={"text": "asked", "mode": "ask"})
    assert isinstance(asked, dict)
    assert "__interrupt__" in asked
    parts = await _stream(stack, thread, command={"resume": text})
    assert _last_values(parts)["digest"] == digest(secret, "asked" + text)

    thread = (await client.threads.create())["thread_id"]
    parts = await _stream(stack, thread, input={"text": text, "mode": "fail"})
    errors = [p.data for p in parts if p.event == "error"]
    assert errors
    assert "upstream refused key ***" in errors[-1]["message"]
    (run,) = await client.runs.list(thread)
    assert run["status"] == "error"
    await client.threads.get_history(thread)
    await client.threads.get(thread)
    return str(waited["digest"])


@pytest.mark.parametrize("codec", [False, True], ids=["plain", "codec"])
async def test_a_canary_secret_leaks_nowhere(
    settings: Settings, temporal_env: WorkflowEnvironment, tmp_path: Path, codec: bool
) -> None:
    secret = f"canary-secret-{uuid.uuid4().hex}"
    api_key = f"canary-api-key-{uuid.uuid4().hex}"
    text = f"canary-input-{uuid.uuid4().hex}"
    env = {"GRAPHYARD_CODEC_KEYS": new_key_line("k1"), "GRAPHYARD_CODEC_ENDPOINT": "true"}
    temporal = graphyard_client(temporal_env, settings)
    async with canary_stack(
        settings, temporal, tmp_path, secret, env if codec else {}, api_key=api_key
    ) as stack:
        first_digest = await drive(stack, secret, text)
        texts = await stack.sinks.gather()
        histories_via_codec = (
            await stack.sinks.histories(f"{stack.url}/codec", stack.headers) if codec else ""
        )

    assert occurrences(texts, secret) == dict.fromkeys(texts, 0)
    assert occurrences(texts, api_key) == dict.fromkeys(texts, 0)
    # The searches can find what is there: the node's output, its masked log line, the input.
    found = occurrences(texts, first_digest)
    assert found["postgres dump"] > 0
    assert found["API responses and SSE streams"] > 0
    assert "with key ***" in texts["logs"]
    assert occurrences(texts, text)["postgres dump"] > 0
    in_history = occurrences(texts, text)["temporal history"]
    if codec:
        assert in_history == 0
        assert "binary/encrypted" in texts["temporal history"]
        assert histories_via_codec.count(text) > 0
        assert histories_via_codec.count(secret) == 0
    else:
        assert in_history > 0


async def test_the_codec_endpoint_decodes_history_payloads(
    settings: Settings, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """``POST /codec/decode`` with payloads read raw from a history returns the input."""
    text = f"canary-input-{uuid.uuid4().hex}"
    env = {"GRAPHYARD_CODEC_KEYS": new_key_line("k1"), "GRAPHYARD_CODEC_ENDPOINT": "true"}
    temporal = graphyard_client(temporal_env, settings)
    async with canary_stack(settings, temporal, tmp_path, "s3cret-value", env) as stack:
        thread = (await stack.client.threads.create())["thread_id"]
        await stack.client.runs.wait(thread, "canary", input={"text": "x", "mode": "ask"})
        await stack.client.runs.wait(thread, "canary", command={"resume": text})
        (run,) = await stack.client.runs.list(thread)
        # A client without the codec reads the history as stored.
        history = await temporal_env.client.get_workflow_handle(
            f"run-{run['run_id']}"
        ).fetch_history()
        found = list(_payloads(json.loads(history.to_json())))
        assert not any(text in _b64(p.get("data", "")) for _, p in found)
        payloads = [p for path, p in found if not any(u in path for u in _UNENCODED)]
        assert len(payloads) >= 4
        assert all(p["metadata"]["encoding"] == _ENCRYPTED for p in payloads)
        async with httpx.AsyncClient(base_url=stack.url) as http:
            response = await http.post(
                "/codec/decode",
                json={"payloads": payloads},
                headers={"X-Namespace": "default", "Origin": "http://localhost:8233"},
            )
            assert response.status_code == 200
            decoded = response.json()["payloads"]
            assert len(decoded) == len(payloads)
            plain = [_b64(p.get("data", "")) for p in decoded]
            assert any(text in p for p in plain)
            # Another namespace, or something that is not payloads, is refused.
            wrong = await http.post(
                "/codec/decode", json={"payloads": payloads}, headers={"X-Namespace": "other"}
            )
            assert wrong.status_code == 403
            bad = await http.post("/codec/decode", content=b"[1, 2]")
            assert bad.status_code == 400


def _b64(text: str) -> str:
    return base64.b64decode(text).decode(errors="replace")


_ENCRYPTED = base64.b64encode(b"binary/encrypted").decode()
# Search attributes and the SDK's own marker fields: not for codecs (no user data in them).
_UNENCODED = ("searchAttributes", ".details.data.payloads", ".details.patch-data.payloads")


def _payloads(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, payload) of every payload in a history's JSON (a dict with metadata and
    data); list indexes are left out of paths."""
    if isinstance(value, dict):
        if "metadata" in value and "data" in value:
            yield path, value
            return
        for key, item in value.items():
            yield from _payloads(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _payloads(item, path)
