"""``make bench-faults``: every fault scenario of tests/fault_scenarios.py, repeated, as a table.

Starts its own Postgres and Temporal dev server (both on files in a temporary folder, so that
they can be killed and restarted), then runs each scenario ``--repeat`` times on a fresh schema
and task queue, with real worker and API processes: the worker killed under 50 runs (each step
kind), Temporal and Postgres killed and restarted, the API killed under waiting clients, and a
poison graph. Per scenario: runs, lost, failed, completed super-steps executed again, and the
recovery time (the fault to the last run's end; API: to the cut-off calls' answers; poison: the
time to ``error``), p50 and max over the repetitions; and for the worker kill, the slowest
hand-over of a run to the new worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

from graphyard.config import Settings
from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.graphs import GraphRegistry
from graphyard.temporal import connect
from tests import fault_scenarios, faultkit
from tests.conftest import TEST_CONFIG, Stack, open_stack

Scenario = Callable[[Stack], Awaitable[faultkit.Outcome]]


def scenarios(temporal: TemporalDevServer, postgres: EmbeddedPostgres) -> dict[str, Scenario]:
    """Each scenario by name; a name ending in ``regular`` runs regular step activities."""
    return {
        "worker-local": fault_scenarios.worker_kill,
        "worker-regular": fault_scenarios.worker_kill,
        "temporal-local": lambda stack: fault_scenarios.temporal_restart(stack, temporal),
        "temporal-regular": lambda stack: fault_scenarios.temporal_restart(stack, temporal),
        "postgres": lambda stack: fault_scenarios.postgres_restart(stack, postgres),
        "api": fault_scenarios.api_kill,
        "poison": fault_scenarios.poison,
    }


async def run_once(
    name: str, scenario: Scenario, base: Settings, graphs: GraphRegistry
) -> faultkit.Outcome:
    suffix = uuid.uuid4().hex[:10]
    settings = base.model_copy(
        update={
            "task_queue": f"bench-faults-{name}-{suffix}",
            "database_schema": f"bench_{suffix}",
            "step_activity": "regular" if name.endswith("regular") else "local",
            "port": free_port(),
        }
    )
    async with open_stack(settings, graphs, await connect(settings)) as stack:
        return await scenario(stack)


def row(name: str, outcomes: list[faultkit.Outcome]) -> str:
    recovery = [o.recovery for o in outcomes]
    handover = [h for o in outcomes for h in o.handover.values()]
    cells = [
        name,
        str(sum(o.runs for o in outcomes)),
        str(sum(o.lost for o in outcomes)),
        str(sum(o.failed + o.unclosed for o in outcomes)),
        str(sum(o.re_executed for o in outcomes)),
        str(sum(o.extra for o in outcomes)),
        f"{statistics.median(recovery):.2f}",
        f"{max(recovery):.2f}",
        f"{max(handover):.2f}" if handover else "-",
    ]
    return "| " + " | ".join(cells) + " |"


async def main_async(repeat: int, only: list[str]) -> None:
    graphs = GraphRegistry.from_path(TEST_CONFIG)
    with tempfile.TemporaryDirectory(prefix="graphyard-faults-") as tmp:
        postgres = faultkit.restartable_postgres(Path(tmp) / "pg")
        temporal = faultkit.restartable_temporal(Path(tmp) / "temporal.db")
        postgres.start()
        temporal.start()
        try:
            base = Settings(
                config_path=TEST_CONFIG,
                temporal_address=temporal.address,
                database_uri=postgres.dsn,
            )
            table = [
                "| scenario | runs | lost | failed | re-executed completed steps "
                "| in-flight nodes run again | recovery p50 s | recovery max s | hand-over max s |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for name, scenario in scenarios(temporal, postgres).items():
                if only and name not in only:
                    continue
                outcomes = []
                for i in range(repeat):
                    outcome = await run_once(name, scenario, base, graphs)
                    print(f"  {name} #{i + 1}: {outcome.report()}", flush=True)
                    outcomes.append(outcome)
                table.append(row(name, outcomes))
            print("\n".join(table))
        finally:
            temporal.stop()
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    # The in-process API logs each connection the Postgres restart broke; the SDK warns when
    # it reconnects a cut-off call. Both are the scenarios working.
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", "Request failed, attempting reconnect")
    asyncio.run(main_async(args.repeat, [s for s in args.only.split(",") if s]))


if __name__ == "__main__":
    main()
