"""The OpenAPI description: complete, and fuzzed with schemathesis against the real stack."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import Stack


async def test_schemathesis_finds_no_server_error(stack: Stack) -> None:
    # In a subprocess: the API under test runs in this event loop. Streams that never end on
    # their own (thread streams) are left out; loopback only.
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{stack.url}/openapi.json",
        "--checks=not_a_server_error",
        "--max-examples=4",
        "--workers=2",
        "--seed=20261126",
        "--exclude-path-regex=/threads/\\{thread_id\\}/stream$",
        "--request-timeout=30",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode()
    assert proc.returncode == 0, report[-6000:]
