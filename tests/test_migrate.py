"""Migrations from several processes at once (an API and workers starting together) on a new
schema: one runs them, the others wait for it, none deadlocks with LangGraph's concurrent
index builds."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from graphyard.config import Settings
from graphyard.storage.migrate import migrate

pytestmark = pytest.mark.core


async def test_concurrent_migrations_of_a_new_schema_all_succeed(settings: Settings) -> None:
    for _ in range(3):
        fresh = settings.model_copy(update={"database_schema": f"m_{uuid.uuid4().hex[:10]}"})
        await asyncio.wait_for(asyncio.gather(*(migrate(fresh) for _ in range(4))), 120)
