"""Custom auth for tests/test_input_limits.py: lets everyone in and records the request bodies
its authenticate handler was given."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

BODIES: list[Any] = []


@auth.authenticate
async def authenticate(body: Any) -> dict[str, Any]:
    BODIES.append(body)
    return {"identity": "anyone"}
