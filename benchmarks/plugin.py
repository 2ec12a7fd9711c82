"""The fourth contender: the official Temporal LangGraph plugin (``temporalio-langgraph``, every
node a regular activity, no API, no checkpointer), on a Temporal dev server started with the
same flags as ``graphyard dev``'s, with its own worker processes from benchmarks/.plugin-venv
(benchmarks/plugin_worker.py and plugin_workflows.py).

The plugin has no API: its client is a Temporal client in this process, starting the workflow
and awaiting its result, as the plugin's samples do (``run_workflow.py``). Its human in the loop
is the sample's: a query polled until the interrupt shows, then a signal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from benchmarks import actions
from benchmarks.durability import KILL_AFTER_S, RUNS, kill_workers
from benchmarks.scenarios import (
    APPROVAL_INPUT,
    CLIENT_PART,
    GRAPHS,
    Options,
    Results,
    WrongResult,
    check,
    derive,
    idle_cpu,
    ms,
)
from benchmarks.servers import ROOT, CpuMeter, _drain, _keep
from graphyard.devstack.children import stop_process
from graphyard.devstack.ports import free_port
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.types import SEARCH_ATTRIBUTES

GRAPH_WORKFLOW = "PluginGraphWorkflow"
APPROVAL_WORKFLOW = "PluginApprovalWorkflow"
TASK_QUEUE = "bench-plugin"
#: How often the client asks the HITL workflow whether it is at its interrupt (the sample polls
#: every 0.5 s; this is the resolution of the "to interrupt" figure).
POLL_S = 0.01
READY = "plugin worker ready"


@dataclass
class PluginStack:
    """The plugin's Temporal dev server and its worker processes (which a test kills and
    starts again)."""

    tmp: Path
    venv: Path
    workers: int
    temporal: TemporalDevServer
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start_workers(self) -> None:
        """Start ``workers`` worker processes; back once each polls."""
        log = self.tmp / "logs" / "plugin-worker.log"
        started = []
        for _ in range(self.workers):
            argv = [str(self.venv / "bin" / "python"), "-m", "benchmarks.plugin_worker"]
            argv += ["--address", self.temporal.address, "--task-queue", TASK_QUEUE]
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            ready = threading.Event()
            threading.Thread(
                target=_drain, args=(proc.stdout, log, ready, READY), daemon=True
            ).start()
            started.append((proc, ready))
        deadline = time.monotonic() + 120
        for proc, ready in started:
            while not ready.wait(0.05):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the plugin's worker did not start; see {log}")
            self.procs.append(proc)

    def kill_workers(self) -> None:
        kill_workers(self.worker_pids)
        for proc in self.procs:
            proc.wait(30)
        self.procs = []

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)

    @property
    def parts(self) -> dict[str, tuple[int, ...]]:
        process = self.temporal.process
        assert process is not None
        return {"worker": self.worker_pids, "temporal": (process.pid,)}


@contextmanager
def stack(tmp: Path, venv: Path, workers: int) -> Iterator[PluginStack]:
    """A Temporal dev server with ``graphyard dev``'s flags (SQLite in WAL mode, its dynamic
    config, its search attributes, no UI) and ``workers`` plugin workers."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{python} not found: `make bench` installs it")
    temporal = TemporalDevServer(
        port=free_port(),
        ui_port=None,
        db_file=tmp / "temporal.db",
        search_attributes={key.name: "Keyword" for key in SEARCH_ATTRIBUTES},
        log_file=tmp / "logs" / "temporal.log",
    )
    temporal.start()
    plugin = PluginStack(tmp, venv, workers, temporal)
    try:
        plugin.start_workers()
        yield plugin
    finally:
        for proc in plugin.procs:
            stop_process(proc, 30)
        temporal.stop()
        _keep(tmp / "logs", "plugin")


async def _run(client: Client, graph: str, payload: Any) -> Any:
    return await client.execute_workflow(
        GRAPH_WORKFLOW, args=[graph, payload], id=f"{graph}-{uuid.uuid4()}", task_queue=TASK_QUEUE
    )


async def _to_interrupt(client: Client) -> tuple[WorkflowHandle[Any, Any], int]:
    """Start the approval workflow and poll its query until the interrupt shows; the handle
    and how many queries that took."""
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        APPROVAL_WORKFLOW,
        args=["approval", APPROVAL_INPUT],
        id=f"approval-{uuid.uuid4()}",
        task_queue=TASK_QUEUE,
    )
    queries = 0
    while True:
        queries += 1
        if await handle.query("pending") is not None:
            return handle, queries
        await asyncio.sleep(POLL_S)


async def _resume(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal("resume", True)
    done = await handle.result()
    if not isinstance(done, dict) or not str(done.get("outcome", "")).startswith("done"):
        raise WrongResult(f"approval did not finish after resume: {str(done)[:200]}")


async def _activity_running(handle: WorkflowHandle[Any, Any]) -> None:
    """Back once a node's activity runs on a worker (killed then, the run waits for the
    activity's start-to-close timeout; killed between two, it would not)."""
    while True:
        description = await handle.describe()
        pending = description.raw_description.pending_activities
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending):
            return
        await asyncio.sleep(POLL_S)


async def measure(plugin: PluginStack, opts: Options) -> Results:
    """The scenarios that the plugin can run (no API: no streams, no tokens; its fan-out fails,
    see plugin_worker.GRAPHS), then its costs and its recovery from kill -9."""
    client = await Client.connect(plugin.temporal.address)
    res = Results()
    limit = opts.scenario_timeout
    graphs = ("echo", "chain", "sleepy")

    async def warm_up() -> None:
        for _ in range(2):
            for graph in graphs:
                check(graph, await _run(client, graph, GRAPHS[graph][0]))
            handle, _ = await _to_interrupt(client)
            await _resume(handle)

    await res.scenario("warm-up", warm_up(), limit)

    async def latencies() -> None:
        for graph in ("echo", "chain"):
            samples = []
            for _ in range(opts.n):
                t0 = time.perf_counter()
                check(graph, await _run(client, graph, GRAPHS[graph][0]))
                samples.append(ms(t0))
            res.latency(graph, samples)

    await res.scenario("create+wait", latencies(), limit)

    async def legs() -> None:
        to_interrupt, resume, queries = [], [], 0
        for _ in range(opts.n):
            t0 = time.perf_counter()
            handle, asked = await _to_interrupt(client)
            to_interrupt.append(ms(t0))
            queries += asked
            t1 = time.perf_counter()
            await _resume(handle)
            resume.append(ms(t1))
        res.latency("hitl_interrupt", to_interrupt)
        res.latency("hitl_resume", resume)
        res.figures["hitl_queries"] = queries / opts.n

    await res.scenario("hitl", legs(), limit)
    for concurrency in opts.concurrency:

        async def rate(c: int = concurrency) -> None:
            gate = asyncio.Semaphore(c)

            async def one() -> None:
                async with gate:
                    check("chain", await _run(client, "chain", GRAPHS["chain"][0]))

            client_part = {CLIENT_PART: (os.getpid(),)}
            meter = CpuMeter({**plugin.parts, **client_part}, alone=frozenset(client_part))
            meter.start()
            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(opts.total)))
            res.figures[f"throughput_c{c}"] = opts.total / (time.perf_counter() - t0)
            res.cpu_per_run(c, meter.stop(), opts.total)

        await res.scenario(f"throughput c={concurrency}", rate(), limit)

    async def idle() -> None:
        res.figures["idle_cpu_ms_s"] = await idle_cpu(
            [p for pids in plugin.parts.values() for p in pids], opts.idle_seconds
        )

    await res.scenario("idle", idle(), limit)

    async def io() -> None:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(_run(client, "sleepy", GRAPHS["sleepy"][0]) for _ in range(opts.io_runs))
        )
        res.figures["io_wall_s"] = time.perf_counter() - t0

    await res.scenario("io-bound", io(), limit)

    async def costs() -> None:
        for graph in ("echo", "chain"):
            counts: Counter[str] = Counter()
            for _ in range(RUNS):
                workflow_id = f"{graph}-{uuid.uuid4()}"
                await client.execute_workflow(
                    GRAPH_WORKFLOW,
                    args=[graph, GRAPHS[graph][0]],
                    id=workflow_id,
                    task_queue=TASK_QUEUE,
                )
                counts.update(await actions.history(client, workflow_id))
            res.figures.update(actions.figures(f"{graph}_cost", counts, RUNS))
        counts = Counter()
        for _ in range(RUNS):
            handle, _ = await _to_interrupt(client)
            await _resume(handle)
            counts.update(await actions.history(client, handle.id))
        res.figures.update(actions.figures("hitl_cost", counts, RUNS))

    await res.scenario("costs", costs(), limit)

    async def recover() -> None:
        handle = await client.start_workflow(
            GRAPH_WORKFLOW,
            args=["sleepy", GRAPHS["sleepy"][0]],
            id=f"sleepy-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        await asyncio.sleep(KILL_AFTER_S)
        await _activity_running(handle)
        t0 = time.perf_counter()
        plugin.kill_workers()
        await asyncio.to_thread(plugin.start_workers)
        check("sleepy", await handle.result())
        res.figures["recovery_s"] = time.perf_counter() - t0

    await res.scenario("kill -9 recovery", recover(), limit)
    derive(res)
    return res
