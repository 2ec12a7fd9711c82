"""Fault scenarios against real processes, shared by tests/test_crashes.py (one pass, asserted)
and benchmarks/faults.py (repeated, tabulated). Each kills one process (worker, Temporal,
Postgres, API) under runs of ``tests/graphs/paced.py`` in flight and reports what survived as
a ``faultkit.Outcome``."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Coroutine
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import WorkflowExecutionStatus

from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from tests.faultkit import (
    TERMINAL,
    Outcome,
    checkpoints,
    close_workflows,
    completed_nodes,
    handed_over,
    holding,
    kill,
    now,
    progressed,
    run_input,
    run_rows,
    start_runs,
    tally,
    until,
    wait_ended,
)
from tests.graphs.paced import NODES
from tests.processes import api_process, worker_process
from tests.stack import Stack

OUTAGE = 3.0  # how long a killed Temporal or Postgres stays down


async def worker_kill(stack: Stack, runs: int = 50, pause: float = 0.3) -> Outcome:
    """SIGKILL the only worker with ``runs`` runs in flight, then start another. The runs
    start together (held at their first node until all got there), and the worker dies once
    each has gone on to its second node: at any point of a super-step, none finished."""
    # Names the dead worker's database sessions, to wait until all its statements are over.
    name = f"worker-{uuid.uuid4().hex[:8]}"
    with (
        holding(stack) as (hold, release),
        worker_process(stack.settings, env={"PGAPPNAME": name}) as first,
    ):
        threads = await start_runs(stack, runs, pause, hold)
        await until(lambda: progressed(stack, threads, 1), "every run to start")
        release()
        await until(lambda: progressed(stack, threads, 2), "every run past its first node")
        kill(first)
    fault_at = now()
    await until(
        lambda: (
            not stack.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (name,))
        ),
        "the killed worker's database sessions to end",
    )
    at_kill = run_rows(stack, threads.values()).values()
    live = {r["run_id"] for r in at_kill if r["status"] not in TERMINAL}
    with checkpoints(stack) as saver:
        done = {tid: completed_nodes(saver, tid) for tid in threads}
    started_at = now()
    with worker_process(stack.settings) as second:
        rows = await wait_ended(stack, threads.values())
        out = tally(
            stack, f"worker kill ({stack.settings.step_activity})", threads, rows, fault_at, done
        )
        # The last step writes the run's end; its workflow completes in the task after.
        await close_workflows(stack, out, threads.values(), fault_at)
    out.details["sticky_after_retry"] = 0
    for run_id in threads.values():
        at, sticky = await handed_over(stack, run_id, second.pid)
        out.details["sticky_after_retry"] += sticky
        if run_id in live:
            # A workflow task attempt enters the history only when it completes: the first node
            # the new worker ran can be earlier.
            seconds = (at - fault_at).total_seconds() if at else float("inf")
            out.handover[run_id] = min(seconds, out.progress.get(run_id, seconds))
    out.details["in_flight"] = len(live)
    out.details["new_worker_at"] = (started_at - fault_at).total_seconds()
    return out


async def temporal_restart(
    stack: Stack,
    server: TemporalDevServer,
    runs: int = 10,
    pause: float = 0.3,
    outage: float = OUTAGE,
) -> Outcome:
    """SIGKILL the Temporal server (SQLite file kept) under runs in flight; start it again
    after ``outage`` seconds."""
    threads = await start_runs(stack, runs, pause)
    with worker_process(stack.settings):
        await until(lambda: progressed(stack, threads, 2), "every run past its first node")
        kill(server.process)
        fault_at = now()
        server.stop()
        await asyncio.sleep(outage)  # the outage itself, not a wait for anything
        server.start()
        back_at = now()
        rows = await wait_ended(stack, threads.values())
        out = tally(
            stack, f"temporal restart ({stack.settings.step_activity})", threads, rows, fault_at
        )
        await close_workflows(stack, out, threads.values(), fault_at)
    out.details["down"] = (back_at - fault_at).total_seconds()
    return out


async def postgres_restart(
    stack: Stack,
    server: EmbeddedPostgres,
    runs: int = 10,
    pause: float = 0.3,
    outage: float = OUTAGE,
) -> Outcome:
    """Stop Postgres the hard way (SIGQUIT: immediate shutdown, crash recovery at the next
    start) under runs in flight; start it again on the same port and data after ``outage``
    seconds; then read every result through the API, whose connections died too."""
    threads = await start_runs(stack, runs, pause)
    with worker_process(stack.settings):
        await until(lambda: progressed(stack, threads, 2), "every run past its first node")
        kill(server.process, signal.SIGQUIT)
        fault_at = now()
        server.stop()
        await asyncio.sleep(outage)  # the outage itself, not a wait for anything
        server.start()
        back_at = now()
        rows = await wait_ended(stack, threads.values())
        out = tally(stack, "postgres restart", threads, rows, fault_at)
        await close_workflows(stack, out, threads.values(), fault_at)
    results = await asyncio.gather(
        *(stack.client.runs.join(tid, run_id) for tid, run_id in threads.items()),
        return_exceptions=True,
    )
    out.details["join_errors"] = sum(not isinstance(r, dict) for r in results)
    out.failed += sum(not isinstance(r, dict) or r.get("steps") != NODES for r in results)
    out.details["down"] = (back_at - fault_at).total_seconds()
    return out


async def api_kill(stack: Stack, runs: int = 4, pause: float = 0.5) -> Outcome:
    """SIGKILL an API process while its clients wait: half on ``runs.wait`` (with an
    ``Idempotency-Key``), half on ``runs.join``; start another on the same port at once. The
    clients' calls reconnect (langgraph-sdk follows the ``Location`` of a cut-off wait or join)
    and get the results; the same calls made again get them too, with nothing run twice.
    ``recovery``: the kill to the last cut-off call's answer."""
    port = free_port()
    with worker_process(stack.settings):
        async with api_process(stack.settings, port) as (first, url):
            client = get_client(url=url)
            tids = [(await client.threads.create())["thread_id"] for _ in range(runs)]
            keys = {tid: uuid.uuid4().hex for tid in tids[: runs // 2]}
            joined = {
                tid: (await client.runs.create(tid, "paced", input=run_input(pause)))["run_id"]
                for tid in tids[runs // 2 :]
            }

            def calls(client: LangGraphClient) -> list[Coroutine[Any, Any, Any]]:
                waits = [
                    client.runs.wait(
                        tid, "paced", input=run_input(pause), headers={"Idempotency-Key": key}
                    )
                    for tid, key in keys.items()
                ]
                return [*waits, *(client.runs.join(t, r) for t, r in joined.items())]

            cut = [asyncio.create_task(call) for call in calls(client)]
            await until(lambda: progressed(stack, tids, 2), "every run past its first node")
            waiting = sum(not call.done() for call in cut)
            kill(first)
            fault_at = now()
        async with api_process(stack.settings, port):
            answers = await asyncio.gather(*cut, return_exceptions=True)
            answered_at = now()
            again = await asyncio.gather(*calls(client), return_exceptions=True)
        threads = {
            r["thread_id"]: r["run_id"]
            for r in stack.sql(
                "SELECT thread_id::text, run_id::text FROM runs WHERE thread_id = ANY(%s::uuid[])",
                (tids,),
            )
        }
        rows = await wait_ended(stack, threads.values())
        out = tally(stack, "api kill", threads, rows, fault_at)
        await close_workflows(stack, out, threads.values(), fault_at)
    out.failed += sum(not isinstance(r, dict) or r.get("steps") != NODES for r in answers + again)
    out.recovery = (answered_at - fault_at).total_seconds()
    out.details["waiting_at_kill"] = waiting
    return out


async def poison(stack: Stack, runs: int = 2) -> Outcome:
    """Runs whose node always raises a retryable error (``flaky``, 3 attempts in its
    langgraph.json) on a worker process: each must end ``error`` after exactly 3 executions of
    the node, as its dead-letter record says, its workflow failed. (What else a dead run shows
    is tests/test_dead_runs.py's.) ``recovery``: the slowest run's time to its end."""
    out = Outcome("poison", runs)
    with worker_process(stack.settings):
        tids = [(await stack.client.threads.create())["thread_id"] for _ in range(runs)]
        started_at = now()
        await asyncio.gather(
            *(
                stack.client.runs.wait(
                    tid, "flaky", input={"error": "ValueError"}, raise_error=False
                )
                for tid in tids
            )
        )
        rows = stack.sql(
            "SELECT thread_id::text, run_id::text, status, error, ended_at FROM runs "
            "WHERE thread_id = ANY(%s::uuid[])",
            (tids,),
        )
        run_ids = [r["run_id"] for r in rows]
        await close_workflows(stack, out, run_ids, started_at, WorkflowExecutionStatus.FAILED)
    record = {"error": "ValueError", "message": "it failed", "step": 1, "attempts": 3}
    for row in rows:
        executions = stack.sql(
            "SELECT count(*) AS n FROM node_runs WHERE thread_id = %s AND node = 'attempt'",
            (row["thread_id"],),
        )[0]["n"]
        out.details["attempts"] = max(out.details.get("attempts", 0), executions)
        out.failed += (row["status"], row["error"], executions) != ("error", record, 3)
        out.recovery = max(out.recovery, (row["ended_at"] - started_at).total_seconds())
    out.lost = runs - len(rows)
    return out
