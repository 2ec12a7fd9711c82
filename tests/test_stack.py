"""The test stack itself: ``open_stack`` leaves the environment as it found it."""

from __future__ import annotations

import contextlib
import os

import pytest
from temporalio.testing import WorkflowEnvironment

from graphyard.config import Settings
from graphyard.graphs import GraphRegistry
from tests.stack import graphyard_client, open_stack

pytestmark = pytest.mark.core


@pytest.mark.parametrize("fails", [False, True], ids=["passes", "fails"])
async def test_open_stack_restores_the_environment(
    settings: Settings,
    graphs: GraphRegistry,
    temporal_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    fails: bool,
) -> None:
    # One variable set before (restored to its value), one unset (removed again).
    monkeypatch.setenv("GRAPHYARD_DATABASE_URI", "postgresql://before")
    monkeypatch.delenv("GRAPHYARD_DATABASE_SCHEMA", raising=False)
    before = dict(os.environ)
    temporal = graphyard_client(temporal_env, settings)
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        async with open_stack(settings, graphs, temporal) as stack:
            assert os.environ["GRAPHYARD_DATABASE_URI"] == settings.database_uri
            assert os.environ["GRAPHYARD_DATABASE_SCHEMA"] == settings.database_schema
            if fails:
                raise RuntimeError("the test failed")
    assert dict(os.environ) == before
    # A failed test's blocked nodes are released too.
    assert stack.sql("SELECT thread_id FROM gates") == [{"thread_id": "*"}]
