"""Fault scenarios against real processes, shared by tests/test_crashes.py (one pass, asserted)
and benchmarks/faults.py (repeated, tabulated). Each kills one process (worker, Temporal,
Postgres, API) under runs of ``tests/graphs/paced.py`` in flight and reports what survived.

Accounting comes from the ``node_runs`` side table (one row per node execution, stamped by
Postgres' clock) and LangGraph's own checkpoints. A node is *completed* once a write recording
it committed: the checkpoint after its super-step, or its task's pending writes (which a retried
step reuses). A *re-executed completed step* is an execution of a node that began after that.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from psycopg.rows import dict_row
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.client import WorkflowExecutionStatus

from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.types import run_workflow_id
from tests.conftest import Stack
from tests.graphs.paced import NODES
from tests.processes import api_process, worker_process

TERMINAL = ("success", "error", "timeout", "interrupted")
DEADLINE = 120.0
OUTAGE = 3.0  # how long a killed Temporal or Postgres stays down


@dataclass
class Outcome:
    """What one scenario left behind. Times are seconds after the fault."""

    scenario: str
    runs: int
    lost: int = 0  # never ended
    failed: int = 0  # ended otherwise than expected
    re_executed: int = 0  # executions of a node begun after it completed
    extra: int = 0  # executions beyond one per node (a node in flight at the fault runs again)
    over: int = 0  # runs where more than one node ran again, or one ran 3+ times
    unclosed: int = 0  # runs whose workflow did not complete (open past the deadline, failed)
    recovery: float = 0.0  # the fault to the last run's end (API: to the re-join's answer)
    progress: list[float] = field(default_factory=list)  # per run in flight: to a node or its end
    handover: list[float] = field(default_factory=list)  # per run: to a task on a live worker
    details: dict[str, Any] = field(default_factory=dict)

    def report(self) -> str:
        times = [f"recovery {self.recovery:.2f} s"]
        if self.handover:
            times.append(f"handover max {max(self.handover):.2f} s")
        if self.progress:
            times.append(f"progress max {max(self.progress):.2f} s")
        times += [f"{k} {v:g}" for k, v in self.details.items()]
        return (
            f"{self.scenario}: {self.runs} runs, lost {self.lost}, failed {self.failed}, "
            f"unclosed {self.unclosed}, re-executed {self.re_executed}, extra {self.extra}; "
            + ", ".join(times)
        )


def now() -> datetime:
    """The wall clock, as Postgres stamps rows (same host)."""
    return datetime.now(UTC)


def kill(proc: subprocess.Popen[Any] | None, sig: signal.Signals = signal.SIGKILL) -> None:
    assert proc is not None, "the process to kill was never started"
    assert proc.poll() is None, "the process to kill is not running"
    proc.send_signal(sig)
    proc.wait()


async def until(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.05)
    return value


def run_input(pause: float, hold: int | None = None) -> dict[str, Any]:
    return {"steps": [], "pause": pause} | ({"hold": hold} if hold is not None else {})


async def start_runs(stack: Stack, n: int, pause: float, hold: int | None = None) -> dict[str, str]:
    """``n`` runs of the paced graph, each on its own thread: {thread_id: run_id}."""

    async def one() -> tuple[str, str]:
        thread = await stack.client.threads.create()
        run = await stack.client.runs.create(
            thread["thread_id"], "paced", input=run_input(pause, hold)
        )
        return thread["thread_id"], run["run_id"]

    return dict(await asyncio.gather(*(one() for _ in range(n))))


def progressed(stack: Stack, threads: Iterable[str], nodes: int) -> bool:
    """Whether every thread has executed at least ``nodes`` nodes."""
    threads = list(threads)
    rows = stack.sql(
        """
        SELECT count(*) AS n FROM (
            SELECT thread_id FROM node_runs WHERE thread_id = ANY(%s)
            GROUP BY thread_id HAVING count(*) >= %s
        ) t
        """,
        (threads, nodes),
    )
    return bool(rows[0]["n"] == len(threads))


def run_rows(stack: Stack, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = stack.sql(
        "SELECT run_id::text AS run_id, status, output, error, ended_at FROM runs "
        "WHERE run_id = ANY(%s::uuid[])",
        (list(run_ids),),
    )
    return {r["run_id"]: r for r in rows}


async def wait_ended(
    stack: Stack, run_ids: Iterable[str], timeout: float = DEADLINE
) -> dict[str, dict[str, Any]]:
    """The runs' rows once all have ended, or as they stand at the deadline."""
    run_ids = list(run_ids)
    deadline = time.monotonic() + timeout
    while True:
        rows = run_rows(stack, run_ids)
        ended = [r for r in rows.values() if r["status"] in TERMINAL]
        if len(ended) == len(run_ids) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


async def close_workflows(
    stack: Stack, out: Outcome, run_ids: Iterable[str], fault_at: datetime
) -> None:
    """Wait for the runs' workflows to complete: count the ones that do not in ``unclosed``,
    and extend ``recovery`` to the last close."""
    pending = set(run_ids)
    deadline = time.monotonic() + DEADLINE
    while pending and time.monotonic() < deadline:
        for run_id in sorted(pending):
            described = await stack.temporal.get_workflow_handle(run_workflow_id(run_id)).describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                continue
            pending.discard(run_id)
            if described.status != WorkflowExecutionStatus.COMPLETED:
                out.unclosed += 1
            elif described.close_time is not None:
                out.recovery = max(out.recovery, (described.close_time - fault_at).total_seconds())
        if pending:
            await asyncio.sleep(0.1)
    out.unclosed += len(pending)


@contextmanager
def checkpoints(stack: Stack) -> Iterator[PostgresSaver]:
    """LangGraph's own reader of the test's checkpoints."""
    with psycopg.connect(
        stack.settings.database_uri,
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={stack.settings.database_schema}",
    ) as conn:
        yield PostgresSaver(conn)  # type: ignore[arg-type]


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def completed_nodes(saver: PostgresSaver, thread_id: str) -> set[str]:
    """Nodes whose completion is durable: in the latest checkpoint, or in its pending writes."""
    latest = saver.get_tuple(_config(thread_id))
    if latest is None:
        return set()
    done = set(latest.checkpoint["channel_values"].get("steps", []))
    for _task, channel, value in latest.pending_writes or []:
        if channel == "steps":
            done.update(value)
    return done


def completion_times(saver: PostgresSaver, thread_id: str) -> dict[str, datetime]:
    """When each node's completion was checkpointed (the checkpoint's own timestamp, taken
    after the node returned and before the write)."""
    times: dict[str, datetime] = {}
    for saved in saver.list(_config(thread_id)):
        ts = datetime.fromisoformat(saved.checkpoint["ts"])
        for node in saved.checkpoint["channel_values"].get("steps", []):
            times[node] = min(ts, times.get(node, ts))
    return times


def tally(
    stack: Stack,
    scenario: str,
    runs: dict[str, str],
    rows: dict[str, dict[str, Any]],
    fault_at: datetime,
    done_at_fault: dict[str, set[str]] | None = None,
) -> Outcome:
    """Count what the fault cost: lost and failed runs, re-executed completed steps."""
    out = Outcome(scenario, len(runs))
    executions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in stack.sql(
        "SELECT thread_id, node, at FROM node_runs WHERE thread_id = ANY(%s)", (list(runs),)
    ):
        executions[r["thread_id"]].append(r)
    with checkpoints(stack) as saver:
        for tid, run_id in runs.items():
            row = rows.get(run_id)
            if row is None or row["status"] not in TERMINAL:
                out.lost += 1
                continue
            if row["status"] != "success" or (row["output"] or {}).get("steps") != NODES:
                out.failed += 1
            times = completion_times(saver, tid)
            done = (done_at_fault or {}).get(tid, set())
            for r in executions[tid]:
                late = r["node"] in times and r["at"] > times[r["node"]]
                again = r["node"] in done and r["at"] > fault_at
                out.re_executed += late or again
            counts = Counter(r["node"] for r in executions[tid])
            out.extra += sum(counts.values()) - len(counts)
            twice = sum(n > 1 for n in counts.values())
            out.over += twice > 1 or max(counts.values(), default=0) > 2
            if row["ended_at"] is not None and row["ended_at"] > fault_at:
                progress = [r["at"] for r in executions[tid] if r["at"] > fault_at]
                first = min([*progress, row["ended_at"]])
                out.progress.append((first - fault_at).total_seconds())
    ended = [r["ended_at"] for r in rows.values() if r["ended_at"] is not None]
    if ended:
        out.recovery = (max(ended) - fault_at).total_seconds()
    return out


async def handed_over(stack: Stack, run_id: str, pid: int) -> tuple[datetime | None, int]:
    """When Temporal first gave the run's work (a workflow task or an activity) to the worker
    process ``pid``; and how many workflow tasks that followed a retried step went to a sticky
    queue (a dead worker's holds them until its schedule-to-start timeout)."""
    times = []
    sticky = 0
    retried = False
    handle = stack.temporal.get_workflow_handle(run_workflow_id(run_id))
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_scheduled_event_attributes"):
            queue = event.workflow_task_scheduled_event_attributes.task_queue
            sticky += retried and queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
            retried = False
            continue
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            identity, retried = started.identity, started.attempt > 1
        elif event.HasField("workflow_task_started_event_attributes"):
            identity = event.workflow_task_started_event_attributes.identity
        else:
            continue
        if identity.startswith(f"{pid}@"):
            times.append(event.event_time.ToDatetime().replace(tzinfo=UTC))
    return min(times, default=None), sticky


@contextmanager
def holding(stack: Stack) -> Iterator[tuple[int, Callable[[], None]]]:
    """An advisory lock for ``run_input(hold=...)``: yields its key and its release."""
    key = uuid.uuid4().int % 2**62
    with psycopg.connect(stack.settings.database_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield key, lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


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
            out.handover.append((at - fault_at).total_seconds() if at else float("inf"))
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
    langgraph.json) through a worker process: each must end ``error`` after exactly 3
    executions, with the error in the run, the ``wait`` body, the stream's ``error`` event and
    the thread. ``recovery``: the slowest run's time to its end."""
    out = Outcome("poison", runs)
    with worker_process(stack.settings):
        tids = [(await stack.client.threads.create())["thread_id"] for _ in range(runs)]
        started_at = now()
        bodies = await asyncio.gather(
            *(
                stack.client.runs.wait(
                    tid, "flaky", input={"error": "ValueError"}, raise_error=False
                )
                for tid in tids
            )
        )
        rows = {
            r["thread_id"]: r
            for r in stack.sql(
                "SELECT thread_id::text, run_id::text, status, error, ended_at FROM runs "
                "WHERE thread_id = ANY(%s::uuid[])",
                (tids,),
            )
        }
        await close_workflows(stack, out, [r["run_id"] for r in rows.values()], started_at)
    expected_error = {"error": "ValueError", "message": "it failed"}

    def carries(error: Any) -> bool:
        return isinstance(error, dict) and expected_error.items() <= error.items()

    for tid, body in zip(tids, bodies, strict=True):
        row = rows[tid]
        attempts = stack.sql(
            "SELECT count(*) AS n FROM node_runs WHERE thread_id = %s AND node = 'attempt'",
            (tid,),
        )[0]["n"]
        events = stack.sql(
            "SELECT data FROM run_events WHERE run_id = %s::uuid AND event = 'error'",
            (row["run_id"],),
        )
        thread = stack.sql("SELECT status FROM threads WHERE thread_id = %s::uuid", (tid,))
        out.details["attempts"] = max(out.details.get("attempts", 0), attempts)
        expected = (
            row["status"] == "error"
            and attempts == 3
            and carries(row["error"])
            and carries(body.get("__error__"))
            and [carries(json.loads(e["data"])) for e in events] == [True]
            and thread == [{"status": "error"}]
        )
        out.failed += not expected
        out.recovery = max(out.recovery, (row["ended_at"] - started_at).total_seconds())
    return out
