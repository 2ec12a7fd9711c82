"""What a fault cost, measured for tests/fault_scenarios.py: runs of ``tests/graphs/paced.py``
started, waited for, and tallied into an ``Outcome``.

Accounting comes from the ``node_runs`` side table (one row per node execution, stamped by
Postgres' clock) and LangGraph's own checkpoints. A node is *completed* once a write recording
it committed: the checkpoint after its super-step, or its task's pending writes (which a retried
step reuses). A *re-executed completed step* is an execution of a node that began after that.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.client import WorkflowExecutionStatus

from graphyard.devstack.ports import free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.types import SEARCH_ATTRIBUTES, run_workflow_id
from tests.graphs.paced import NODES
from tests.stack import Stack

TERMINAL = ("success", "error", "timeout", "interrupted")
DEADLINE = 120.0


def restartable_temporal(db_file: Path) -> TemporalDevServer:
    """A Temporal dev server on a free port with graphyard's search attributes, its state in
    ``db_file``: killed, it starts again where it was."""
    attributes = {key.name: "Keyword" for key in SEARCH_ATTRIBUTES}
    return TemporalDevServer(
        port=free_port(), ui_port=None, db_file=db_file, search_attributes=attributes
    )


def restartable_postgres(data_dir: Path) -> EmbeddedPostgres:
    """A durable Postgres on a free port (killed, it keeps what committed)."""
    return EmbeddedPostgres(data_dir, free_port())


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
    # Per run in flight at the fault, by run id: to its next node or its end; and to the first
    # work on the new worker (a worker kill).
    progress: dict[str, float] = field(default_factory=dict)
    handover: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def report(self) -> str:
        times = [f"recovery {self.recovery:.2f} s"]
        if self.handover:
            times.append(f"hand-over max {max(self.handover.values()):.2f} s")
        if self.progress:
            times.append(f"progress max {max(self.progress.values()):.2f} s")
        times += [f"{k} {v:g}" for k, v in self.details.items()]
        return (
            f"{self.scenario}: {self.runs} runs, lost {self.lost}, failed {self.failed}, "
            f"unclosed {self.unclosed}, re-executed {self.re_executed}, extra {self.extra}, "
            f"over {self.over}; " + ", ".join(times)
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
    stack: Stack,
    out: Outcome,
    run_ids: Iterable[str],
    fault_at: datetime,
    expected: WorkflowExecutionStatus = WorkflowExecutionStatus.COMPLETED,
) -> None:
    """Wait for the runs' workflows to close as ``expected`` (a dead run's fails): count the
    ones that do not in ``unclosed``, and extend ``recovery`` to the last close."""
    pending = set(run_ids)
    deadline = time.monotonic() + DEADLINE
    while pending and time.monotonic() < deadline:
        for run_id in sorted(pending):
            described = await stack.temporal.get_workflow_handle(run_workflow_id(run_id)).describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                continue
            pending.discard(run_id)
            if described.status != expected:
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
                out.progress[run_id] = (first - fault_at).total_seconds()
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
