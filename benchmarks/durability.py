"""graphyard's side of the Temporal figures that it is compared with the plugin on: history
events and billable actions per run (benchmarks/actions.py counts them from the histories), and
the time to recover a run from ``kill -9`` of every worker process.

Each run goes through the API as users run it (langgraph-sdk), on a fresh thread; its workflows
are ``run-<run_id>`` for each of the thread's runs and ``thread-<thread_id>`` if the thread
needed one (it does not when the thread is idle)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from typing import Any

from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from benchmarks import actions
from benchmarks.scenarios import (
    APPROVAL_INPUT,
    GRAPHS,
    Results,
    WrongResult,
    check,
    sdk_client,
)
from benchmarks.servers import Server
from graphyard.types import run_workflow_id, thread_workflow_id

#: Runs accounted per graph (their counts are the same run after run; a few catch a stray).
RUNS = 3
#: The sleepy graph's nodes sleep 0.2 s each: 0.3 s after the start, the second one runs.
KILL_AFTER_S = 0.3


async def _thread_counts(temporal: Client, sdk: LangGraphClient, thread_id: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for run in await sdk.runs.list(thread_id, limit=100):
        workflow_id = run_workflow_id(str(run["run_id"]))
        await actions.closed(temporal, workflow_id)
        counts.update(await actions.history(temporal, workflow_id))
    counts.update(await actions.history(temporal, thread_workflow_id(thread_id)))
    return counts


async def costs(sdk: LangGraphClient, temporal: Client) -> dict[str, float]:
    """History events and actions per echo, chain and HITL run (interrupt, then resume)."""
    out: dict[str, float] = {}
    for graph in ("echo", "chain"):
        counts: Counter[str] = Counter()
        for _ in range(RUNS):
            thread = await sdk.threads.create()
            payload = GRAPHS[graph][0]
            check(graph, await sdk.runs.wait(thread["thread_id"], graph, input=payload))
            counts.update(await _thread_counts(temporal, sdk, thread["thread_id"]))
        out.update(actions.figures(f"{graph}_cost", counts, RUNS))
    counts = Counter()
    for _ in range(RUNS):
        thread = await sdk.threads.create()
        await sdk.runs.wait(thread["thread_id"], "approval", input=APPROVAL_INPUT)
        done = await sdk.runs.wait(thread["thread_id"], "approval", command={"resume": True})
        if not isinstance(done, dict) or not str(done.get("outcome", "")).startswith("done"):
            raise WrongResult(f"approval did not finish after resume: {str(done)[:200]}")
        counts.update(await _thread_counts(temporal, sdk, thread["thread_id"]))
    out.update(actions.figures("hitl_cost", counts, RUNS))
    return out


def kill_workers(pids: tuple[int, ...]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def recovery(sdk: LangGraphClient, server: Server) -> float:
    """Start a ``sleepy`` run, ``kill -9`` every worker process mid-run (``graphyard dev``
    starts new ones, as its supervisor does after any crash): seconds from the kill to the
    run's end."""
    thread = await sdk.threads.create()
    run: Any = await sdk.runs.create(thread["thread_id"], "sleepy", input=GRAPHS["sleepy"][0])
    await asyncio.sleep(KILL_AFTER_S)
    t0 = time.perf_counter()
    kill_workers(server.parts["worker"])
    values = await sdk.runs.join(thread["thread_id"], str(run["run_id"]))
    seconds = time.perf_counter() - t0
    check("sleepy", values)
    return seconds


async def measure(server: Server, res: Results, limit: float) -> None:
    """Add graphyard's costs and its recovery to ``res`` (after every other scenario: the
    recovery kills its workers)."""
    assert server.temporal_address is not None
    sdk = sdk_client(server.url)
    temporal = await Client.connect(server.temporal_address)

    async def account() -> None:
        res.figures.update(await costs(sdk, temporal))

    await res.scenario("costs", account(), limit)

    async def recover() -> None:
        res.figures["recovery_s"] = await recovery(sdk, server)

    await res.scenario("kill -9 recovery", recover(), limit)
    await sdk.http.client.aclose()
