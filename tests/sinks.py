"""Every place a secret could leak to, gathered as text, for tests that search them: the
Temporal histories of a test's workflows, a full ``pg_dump`` of the database, the logs of the
processes, and the raw bytes the API sent to its client (JSON bodies and SSE streams).

``Sinks.gather()`` returns {sink name: text}; ``occurrences(texts, needle)`` counts a value in
each, also hex-encoded (how ``pg_dump`` writes bytea: checkpoint blobs) and with base64
payloads of the histories decoded. Other canaries (API keys, auth tokens) can reuse both.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from graphyard.config import Settings
from graphyard.devstack.postgres import postgres_bin_dir
from graphyard.devstack.temporal import temporal_binary


class _Tee(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, sink: bytearray) -> None:
        self._inner, self._sink = inner, sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._sink += chunk
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """An HTTP transport keeping every byte of every response body it receives."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.received = bytearray()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, self.received),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def recording_client(
    url: str, headers: dict[str, str] | None = None
) -> tuple[LangGraphClient, RecordingTransport]:
    """A langgraph-sdk client whose responses (SSE streams included) are recorded raw."""
    transport = RecordingTransport()
    timeout = httpx.Timeout(connect=5, read=300, write=300, pool=5)
    http = httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout, headers=headers)
    return LangGraphClient(http), transport


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _with_payloads_decoded(history_json: str) -> str:
    """The history's JSON, followed by every base64 string in it decoded (payload data,
    metadata and encoded failure attributes are base64 in JSON)."""
    parts = [history_json]
    for text in _strings(json.loads(history_json)):
        if len(text) >= 4 and len(text) % 4 == 0:
            with contextlib.suppress(binascii.Error, ValueError):
                parts.append(base64.b64decode(text, validate=True).decode(errors="replace"))
    return "\n".join(parts)


async def _run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{args[0]} failed: {err.decode()}"
    return out.decode()


async def workflow_ids(temporal: Client, task_queue: str) -> list[str]:
    """The ids of every workflow that ran on the task queue (runs, threads, crons)."""
    query = f"TaskQueue = '{task_queue}'"
    return sorted({wf.id async for wf in temporal.list_workflows(query)})


async def temporal_show(
    settings: Settings,
    workflow_id: str,
    codec_endpoint: str | None = None,
    codec_headers: dict[str, str] | None = None,
) -> str:
    """``temporal workflow show --output json`` of one workflow (through a codec server when
    ``codec_endpoint`` is given, sending it ``codec_headers``), with its base64 strings decoded
    after it."""
    codec = ["--codec-endpoint", codec_endpoint] if codec_endpoint else []
    for name, value in (codec_headers or {}).items():
        codec += ["--codec-header", f"{name}={value}"]
    shown = await _run(
        str(temporal_binary()),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--address",
        settings.temporal_address,
        "--namespace",
        settings.temporal_namespace,
        *codec,
    )
    return _with_payloads_decoded(shown)


@dataclass
class Sinks:
    """Where a test's processes may have written: gather() reads them all."""

    settings: Settings
    temporal: Client
    log_files: list[Path] = field(default_factory=list)
    http: list[RecordingTransport] = field(default_factory=list)
    extra_workflow_ids: set[str] = field(default_factory=set)

    async def histories(
        self, codec_endpoint: str | None = None, codec_headers: dict[str, str] | None = None
    ) -> str:
        ids = set(await workflow_ids(self.temporal, self.settings.task_queue))
        ids |= self.extra_workflow_ids
        assert ids, "no workflow ran on the test's task queue"
        shown = [
            await temporal_show(self.settings, wf, codec_endpoint, codec_headers)
            for wf in sorted(ids)
        ]
        return "\n".join(shown)

    async def pg_dump(self) -> str:
        """A full dump of the test database (every schema, data as COPY, bytea as hex)."""
        return await _run(
            str(postgres_bin_dir() / "pg_dump"), "--no-owner", self.settings.database_uri
        )

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.log_files)

    def responses(self) -> str:
        return "\n".join(bytes(t.received).decode(errors="replace") for t in self.http)

    async def gather(self) -> dict[str, str]:
        return {
            "temporal history": await self.histories(),
            "postgres dump": await self.pg_dump(),
            "logs": self.logs(),
            "API responses and SSE streams": self.responses(),
        }


def occurrences(texts: dict[str, str], needle: str) -> dict[str, int]:
    """How often ``needle`` appears in each sink, as text or hex-encoded."""
    forms = (needle, needle.encode().hex())
    return {name: sum(text.count(form) for form in forms) for name, text in texts.items()}
