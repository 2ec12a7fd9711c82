"""Every process killed under runs in flight, with real processes and ``kill -9``: the worker
(50 runs), the Temporal server, Postgres, the API; and a poison graph. Nothing may be lost and
no completed super-step may run again; each test prints its recovery time (``pytest -s``).
The scenarios live in tests/fault_scenarios.py, which benchmarks/faults.py repeats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from graphyard.config import Settings
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.graphs import GraphRegistry
from graphyard.temporal import connect
from tests import fault_scenarios, faultkit
from tests.stack import Stack, open_stack

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# Timing bounds carry this much slack over the design's figures for a CI machine that is busy
# with other work; each test prints what it measured.
SLACK = 2.0


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[TemporalDevServer]:
    """A Temporal dev server of this test's own, its state in a SQLite file, to kill."""
    server = faultkit.restartable_temporal(tmp_path / "temporal.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A Postgres of this test's own (durable: a crash keeps what committed), to kill."""
    server = faultkit.restartable_postgres(tmp_path / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_worker_killed_with_50_runs_in_flight(api: Stack) -> None:
    out = await fault_scenarios.worker_kill(api, runs=50)
    print(out.report())
    assert out.details["in_flight"] == 50
    assert (out.lost, out.failed, out.re_executed, out.over, out.unclosed) == (0,) * 5
    # Temporal hands each run to the new worker once the dead one's workflow task (local
    # steps) or step heartbeat (regular steps, retried after the retry interval) times out.
    s = api.settings
    if s.step_activity == "local":
        detection = s.workflow_task_timeout.total_seconds()
    else:
        detection = (s.step_heartbeat_timeout + s.step_initial_retry_interval).total_seconds()
    handover = max(out.handover.values())
    print(f"hand-over target {detection + 1:g} s, measured max {handover:.2f} s")
    assert handover <= detection + 1 + SLACK
    # Then the runs go on at once: no workflow task waits on the dead worker's sticky queue.
    assert out.details["sticky_after_retry"] == 0
    assert max(out.progress.values()) <= detection + 3 + SLACK
    assert out.recovery < 60


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_temporal_killed_and_restarted(
    settings: Settings, graphs: GraphRegistry, own_temporal: TemporalDevServer
) -> None:
    settings = settings.model_copy(update={"temporal_address": own_temporal.address})
    async with open_stack(settings, graphs, await connect(settings)) as stack:
        out = await fault_scenarios.temporal_restart(stack, own_temporal)
    print(out.report())
    assert (out.lost, out.failed, out.re_executed, out.over, out.unclosed) == (0,) * 5
    assert out.recovery < 60


async def test_postgres_killed_and_restarted(
    settings: Settings,
    graphs: GraphRegistry,
    temporal_env: WorkflowEnvironment,
    own_postgres: EmbeddedPostgres,
) -> None:
    settings = settings.model_copy(update={"database_uri": own_postgres.dsn})
    async with open_stack(settings, graphs, temporal_env.client) as stack:
        out = await fault_scenarios.postgres_restart(stack, own_postgres)
    print(out.report())
    assert (out.lost, out.failed, out.re_executed, out.over, out.unclosed) == (0,) * 5
    assert out.recovery < 60


@pytest.mark.filterwarnings("ignore:Request failed, attempting reconnect:UserWarning")
async def test_api_killed_while_clients_wait(api: Stack) -> None:
    out = await fault_scenarios.api_kill(api)
    print(out.report())
    assert out.details["waiting_at_kill"] == out.runs
    assert (out.lost, out.failed, out.re_executed, out.extra, out.unclosed) == (0,) * 5
    assert out.recovery < 60


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_poison_graph_ends_error_after_exactly_the_capped_attempts(api: Stack) -> None:
    out = await fault_scenarios.poison(api)
    print(out.report())
    assert (out.lost, out.failed, out.unclosed, out.details["attempts"]) == (0, 0, 0, 3)
