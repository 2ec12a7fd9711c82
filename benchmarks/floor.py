"""The bare floor: the same graphs stepped one super-step at a time with LangGraph and the
Postgres checkpointer (``AsyncPostgresSaver``, durability "sync") in this one process; no
Temporal, no HTTP, no run rows, no event log. What a durable per-step design cannot go below
on this machine: graphyard's orchestration is the difference.

It uses the Postgres that ``graphyard dev`` started, in a database of its own."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.pregel import Pregel
from langgraph.types import Command
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from benchmarks.scenarios import (
    APPROVAL_INPUT,
    CHAIN_INPUT,
    GRAPHS,
    Options,
    Results,
    WrongResult,
    check,
    derive,
    ms,
)
from benchmarks.servers import CONFIG, CpuMeter
from graphyard.graphs import GraphRegistry

DATABASE = "bench_floor"
POOL_SIZE = 20  # graphyard's default pool_max_size


class Floor:
    """Runs graphs to their end (or interrupt) one super-step per ``astream`` call, as
    graphyard's step activity does, with a fresh saver per call over one shared pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.graphs: dict[str, Pregel[Any, Any, Any, Any]] = {}
        registry = GraphRegistry.from_path(CONFIG)
        for graph_id in registry.graph_ids:
            compiled = registry.get(graph_id).compiled
            assert compiled is not None
            self.graphs[graph_id] = compiled

    async def run(
        self,
        graph_id: str,
        payload: Any,
        thread_id: str | None = None,
        first_event: list[float] | None = None,
        t0: float = 0.0,
    ) -> tuple[dict[str, Any], bool]:
        """Step ``graph_id`` from ``payload`` until it ends or interrupts: (values,
        interrupted). ``first_event`` gets the ms from ``t0`` to the first streamed chunk."""
        config: RunnableConfig = {"configurable": {"thread_id": thread_id or str(uuid.uuid4())}}
        step_input = payload
        values: dict[str, Any] = {}
        while True:
            # A fresh saver per call over the shared pool: one shared saver's lock would
            # serialize every run in the process.
            graph = self.graphs[graph_id].copy(
                update={"checkpointer": AsyncPostgresSaver(self.pool)}
            )
            interrupted, nxt = False, None
            async for mode, data in graph.astream(
                step_input,
                config,
                stream_mode=["values", "checkpoints"],
                interrupt_after="*",
                durability="sync",
            ):
                if first_event is not None and not first_event:
                    first_event.append(ms(t0))
                if mode == "values":
                    values = cast(dict[str, Any], data)
                    interrupted = interrupted or bool(values.get("__interrupt__"))
                else:
                    nxt = cast(dict[str, Any], data)["next"]
            if interrupted or not nxt:
                return values, interrupted
            step_input = None


async def _database(dsn: str) -> str:
    """A fresh database for the floor beside graphyard's; its DSN."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    return dsn.rsplit("/", 1)[0] + f"/{DATABASE}"


async def measure(dsn: str, postgres_pid: int, opts: Options) -> Results:
    """The scenarios that have a floor (no HTTP: no tokens over SSE, no parked runs)."""
    floor_dsn = await _database(dsn)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        floor_dsn,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    try:
        await AsyncPostgresSaver(pool).setup()
        return await _scenarios(
            Floor(pool), {"floor process": (os.getpid(),), "postgres": (postgres_pid,)}, opts
        )
    finally:
        await pool.close()


async def _scenarios(floor: Floor, parts: dict[str, tuple[int, ...]], opts: Options) -> Results:
    res = Results()
    limit = opts.scenario_timeout

    async def one(graph: str) -> None:
        values, _ = await floor.run(graph, GRAPHS[graph][0])
        check(graph, values)

    async def warm_up() -> None:
        for _ in range(2):
            for graph in GRAPHS:
                await one(graph)

    await res.scenario("warm-up", warm_up(), limit)

    async def latencies() -> None:
        for graph in ("echo", "chain", "fanout"):
            samples = []
            for _ in range(opts.n):
                t0 = time.perf_counter()
                await one(graph)
                samples.append(ms(t0))
            res.latency(graph, samples)

    await res.scenario("create+wait", latencies(), limit)

    async def streams() -> None:
        first: list[float] = []
        full = []
        for _ in range(opts.n):
            mine: list[float] = []
            t0 = time.perf_counter()
            values, _ = await floor.run("chain", CHAIN_INPUT, first_event=mine, t0=t0)
            full.append(ms(t0))
            first += mine
            check("chain", values)
        res.latency("first_event", first)
        res.latency("full_stream", full)

    await res.scenario("stream", streams(), limit)

    async def legs() -> None:
        to_interrupt, resume = [], []
        for _ in range(opts.n):
            thread_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            _, interrupted = await floor.run("approval", APPROVAL_INPUT, thread_id)
            to_interrupt.append(ms(t0))
            if not interrupted:
                raise WrongResult("approval did not stop at its interrupt")
            t1 = time.perf_counter()
            values, _ = await floor.run("approval", Command(resume=True), thread_id)
            resume.append(ms(t1))
            if not str(values.get("outcome", "")).startswith("done"):
                raise WrongResult(f"approval did not finish after resume: {values}")
        res.latency("hitl_interrupt", to_interrupt)
        res.latency("hitl_resume", resume)

    await res.scenario("hitl", legs(), limit)
    for concurrency in opts.concurrency:

        async def rate(c: int = concurrency) -> None:
            gate = asyncio.Semaphore(c)

            async def gated() -> None:
                async with gate:
                    await one("chain")

            meter = CpuMeter(parts, alone=frozenset({"floor process"}))
            meter.start()
            t0 = time.perf_counter()
            await asyncio.gather(*(gated() for _ in range(opts.total)))
            res.figures[f"throughput_c{c}"] = opts.total / (time.perf_counter() - t0)
            res.cpu_per_run(c, meter.stop(), opts.total)

        await res.scenario(f"throughput c={concurrency}", rate(), limit)

    async def io() -> None:
        t0 = time.perf_counter()
        await asyncio.gather(*(one("sleepy") for _ in range(opts.io_runs)))
        res.figures["io_wall_s"] = time.perf_counter() - t0

    await res.scenario("io-bound", io(), limit)
    derive(res)
    return res
