"""The scenarios, through langgraph-sdk as a user would run them, against graphyard or the
reference. Every figure is measured at the client; see docs/benchmarks.md for what each means.

Each scenario returns plain numbers (ms, runs/s, s, MB, %) and checks the runs' results, so a
server that answers fast but wrong does not look good."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from benchmarks.servers import CpuMeter, Server, rss_bytes, tree, tree_cpu

ECHO_INPUT = {"text": "hello"}
CHAIN_INPUT: dict[str, Any] = {"steps": []}
FANOUT_INPUT = {"topic": "t", "results": []}
SLEEPY_INPUT: dict[str, Any] = {"steps": []}
APPROVAL_INPUT = {"request": "x"}
TOKENS_INPUT: dict[str, Any] = {"messages": [{"type": "human", "content": "hi"}]}
#: graph -> (input, check of runs.wait's result)
GRAPHS: dict[str, tuple[dict[str, Any], Callable[[Any], bool]]] = {
    "echo": (ECHO_INPUT, lambda v: v.get("text") == "hello"),
    "chain": (CHAIN_INPUT, lambda v: len(v.get("steps", [])) == 10),
    "fanout": (FANOUT_INPUT, lambda v: len(v.get("results", [])) == 8 and bool(v.get("summary"))),
    "sleepy": (SLEEPY_INPUT, lambda v: len(v.get("steps", [])) == 3),
}
#: The benchmark's own process in the CPU tables (the client: langgraph-sdk, or for the plugin
#: its Temporal client; the floor's whole run).
CLIENT_PART = "benchmark client"
IO_IDEAL_S = 0.6  # three nodes of 0.2 s
PARK_TIMEOUT_S = 120.0  # a run not at its interrupt by then is counted as stuck


def ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


class WrongResult(RuntimeError):
    """A run ended, but not with what its graph computes."""


def check(graph: str, values: Any) -> None:
    if not isinstance(values, dict) or not GRAPHS[graph][1](values):
        raise WrongResult(f"{graph}: unexpected result {str(values)[:200]}")


@dataclass
class Results:
    """Figures by key, and the errors of scenarios that failed (their figures stay absent)."""

    figures: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)

    async def scenario(self, name: str, coro: Awaitable[None], timeout: float) -> None:
        """Run one scenario, bounded in time; a failure is recorded, not raised."""
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(coro, timeout)
        except Exception as exc:  # one broken scenario must not lose the rest
            self.errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"    {name}: FAILED {self.errors[name]}", flush=True)
            return
        print(f"    {name}: {time.perf_counter() - t0:.1f} s", flush=True)

    def cpu_per_run(self, concurrency: int, seconds: dict[str, float], runs: int) -> None:
        """CPU ms per run of each part, during the throughput scenario at ``concurrency``."""
        self.cpu[f"c{concurrency}"] = {k: v * 1000 / runs for k, v in seconds.items()}
        # Every process of the contender's stack; the benchmark's client is not one.
        self.figures[f"cpu_c{concurrency}_ms"] = sum(
            v for k, v in self.cpu[f"c{concurrency}"].items() if k != CLIENT_PART
        )

    def latency(self, key: str, samples: list[float]) -> None:
        self.samples[key] = samples
        self.figures[f"{key}_p50"] = p50(samples)
        self.figures[f"{key}_p95"] = pct(samples, 0.95)


@dataclass
class Options:
    n: int = 20
    total: int = 200
    concurrency: tuple[int, ...] = (20, 50)
    io_runs: int = 200
    waiting: int = 1000
    idle_seconds: float = 10.0
    scenario_timeout: float = 300.0
    profile: Callable[[Server], Any] | None = None


def sdk_client(url: str) -> LangGraphClient:
    """langgraph-sdk's client, with room for hundreds of concurrent requests (the default
    pool of 100 connections with a 5 s pool timeout would fail the 200-at-once scenario on
    a server slower than 5 s, measuring the client instead of the server)."""
    base = get_client(url=url, api_key=None)
    http = httpx.AsyncClient(
        base_url=url,
        transport=httpx.AsyncHTTPTransport(retries=5),
        headers=dict(base.http.client.headers),
        timeout=httpx.Timeout(connect=10, read=600, write=600, pool=600),
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200),
    )
    return LangGraphClient(http)


async def create_and_wait(client: LangGraphClient, graph: str, payload: Any) -> Any:
    thread = await client.threads.create()
    return await client.runs.wait(thread["thread_id"], graph, input=payload)


async def warm_up(client: LangGraphClient) -> None:
    """Imports, pools, caches and the first run of each graph, outside any measurement."""
    for _ in range(2):
        for graph, (payload, _check) in GRAPHS.items():
            check(graph, await create_and_wait(client, graph, payload))
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "approval", input=APPROVAL_INPUT)
        await client.runs.wait(thread["thread_id"], "approval", command={"resume": True})
        async for _part in client.runs.stream(thread["thread_id"], "chain", input=CHAIN_INPUT):
            pass


async def wait_latency(client: LangGraphClient, graph: str, n: int) -> list[float]:
    """Create a thread + ``runs.wait``, one run at a time."""
    payload = GRAPHS[graph][0]
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        values = await create_and_wait(client, graph, payload)
        samples.append(ms(t0))
        check(graph, values)
    return samples


async def stream_latency(client: LangGraphClient, n: int) -> tuple[list[float], list[float]]:
    """``runs.stream`` of the chain (stream_mode values) on a fresh thread: the first SSE event
    of any kind, and the stream's end."""
    first, full = [], []
    for _ in range(n):
        thread = await client.threads.create()
        t0 = time.perf_counter()
        got_first = False
        last: Any = None
        async for part in client.runs.stream(thread["thread_id"], "chain", input=CHAIN_INPUT):
            if not got_first:
                first.append(ms(t0))
                got_first = True
            if part.event == "values":
                last = part.data
        full.append(ms(t0))
        check("chain", last)
    return first, full


async def token_latency(client: LangGraphClient, n: int) -> list[float]:
    """How long a token takes from the model in a node (examples/graphs/tokens.py: each token
    is its emission time) to the client, streaming messages-tuple."""
    samples = []
    for _ in range(n):
        thread = await client.threads.create()
        async for part in client.runs.stream(
            thread["thread_id"], "tokens", input=TOKENS_INPUT, stream_mode="messages-tuple"
        ):
            if part.event == "messages" and str(part.data[0].get("content", "")).strip():
                samples.append((time.time() - float(part.data[0]["content"])) * 1000)
    if not samples:
        raise WrongResult("no token reached the client")
    return samples


async def hitl(client: LangGraphClient, n: int) -> tuple[list[float], list[float]]:
    """examples/graphs/approval.py: create thread + ``runs.wait`` up to the interrupt; then
    ``runs.wait(command={"resume": True})`` to the end. (In graphyard the same run continues;
    in the reference the resume is a new run: each measured as its users call it.)"""
    to_interrupt, resume = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        thread = await client.threads.create()
        paused = await client.runs.wait(thread["thread_id"], "approval", input=APPROVAL_INPUT)
        to_interrupt.append(ms(t0))
        if not isinstance(paused, dict) or not paused.get("__interrupt__"):
            raise WrongResult(f"approval did not stop at its interrupt: {str(paused)[:200]}")
        t1 = time.perf_counter()
        done = await client.runs.wait(thread["thread_id"], "approval", command={"resume": True})
        resume.append(ms(t1))
        if not isinstance(done, dict) or not str(done.get("outcome", "")).startswith("done"):
            raise WrongResult(f"approval did not finish after resume: {str(done)[:200]}")
    return to_interrupt, resume


async def throughput(client: LangGraphClient, graph: str, total: int, concurrency: int) -> float:
    """``total`` runs (create thread + runs.wait each), ``concurrency`` in flight: runs/s."""
    gate = asyncio.Semaphore(concurrency)
    payload = GRAPHS[graph][0]

    async def one() -> None:
        async with gate:
            check(graph, await create_and_wait(client, graph, payload))

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - t0)


async def idle_cpu(pids: list[int], seconds: float) -> float:
    """CPU ms per second that ``pids`` and their descendants spend while nothing runs."""
    everything = [p for pid in pids for p in tree(pid)]
    before = tree_cpu(everything)
    await asyncio.sleep(seconds)
    return (tree_cpu(everything) - before) * 1000 / seconds


async def io_bound(client: LangGraphClient, runs: int) -> float:
    """``runs`` runs of three 0.2 s sleeping nodes, all at once (their threads created
    beforehand): the wall time until the last one ends, seconds (ideal: 0.6)."""
    gate = asyncio.Semaphore(50)

    async def new_thread() -> str:
        async with gate:
            return str((await client.threads.create())["thread_id"])

    threads = await asyncio.gather(*(new_thread() for _ in range(runs)))

    async def one(thread_id: str) -> None:
        check("sleepy", await client.runs.wait(thread_id, "sleepy", input=SLEEPY_INPUT))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in threads))
    return time.perf_counter() - t0


async def waiting_runs(
    client: LangGraphClient, server: Server, count: int, idle_seconds: float
) -> dict[str, float]:
    """Leave ``count`` runs at their interrupt (50 at a time); then, while they wait, the CPU
    of the worker (graphyard) or server process (reference) and of its whole process tree
    (graphyard: API, worker, Temporal, Postgres), and the worker's resident memory."""
    rss0 = sum(rss_bytes(pid) for pid in server.worker_pids)
    gate = asyncio.Semaphore(50)

    stuck: list[str] = []
    parked: list[float] = []

    async def one() -> None:
        async with gate:
            thread = await client.threads.create()
            try:
                paused = await asyncio.wait_for(
                    client.runs.wait(thread["thread_id"], "approval", input=APPROVAL_INPUT),
                    PARK_TIMEOUT_S,
                )
            except TimeoutError:
                stuck.append(str(thread["thread_id"]))
                return
            if not isinstance(paused, dict) or not paused.get("__interrupt__"):
                raise WrongResult(f"approval did not stop at its interrupt: {str(paused)[:200]}")
            parked.append(time.perf_counter())

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    park = max(parked, default=t0) - t0  # until the last run that did park
    if stuck:
        # Measured all the same (the others wait), and reported: a run that never reaches
        # its interrupt is a bug to look at.
        print(
            f"    waiting: {len(stuck)} of {count} runs not at their interrupt after "
            f"{PARK_TIMEOUT_S:.0f} s (threads {', '.join(stuck[:5])}...)",
            flush=True,
        )
    await asyncio.sleep(1)  # let the last acknowledgements settle
    pids = tree(server.root_pid)
    cpu1, all1 = tree_cpu(list(server.worker_pids)), tree_cpu(pids)
    await asyncio.sleep(idle_seconds)
    cpu2, all2 = tree_cpu(list(server.worker_pids)), tree_cpu(pids)
    rss = sum(rss_bytes(pid) for pid in server.worker_pids)
    return {
        "waiting_stuck": len(stuck),
        "waiting_park_s": park,
        "waiting_cpu_pct": (cpu2 - cpu1) / idle_seconds * 100,
        "waiting_cpu_all_pct": (all2 - all1) / idle_seconds * 100,
        "waiting_rss_mb": rss / 2**20,
        "waiting_rss_growth_mb": (rss - rss0) / 2**20,
    }


async def measure(server: Server, opts: Options) -> Results:
    """Every scenario against one server, in a fixed order (the waiting runs last: they stay)."""
    client = sdk_client(server.url)
    res = Results()
    limit = opts.scenario_timeout
    await res.scenario("warm-up", warm_up(client), limit)

    async def latencies() -> None:
        for graph in ("echo", "chain", "fanout"):
            res.latency(graph, await wait_latency(client, graph, opts.n))

    await res.scenario("create+wait", latencies(), limit)

    async def streams() -> None:
        first, full = await stream_latency(client, opts.n)
        res.latency("first_event", first)
        res.latency("full_stream", full)

    await res.scenario("stream", streams(), limit)

    async def tokens() -> None:
        res.latency("token", await token_latency(client, max(opts.n // 5, 3)))

    await res.scenario("tokens", tokens(), limit)

    async def legs() -> None:
        to_interrupt, resume = await hitl(client, opts.n)
        res.latency("hitl_interrupt", to_interrupt)
        res.latency("hitl_resume", resume)

    await res.scenario("hitl", legs(), limit)
    for concurrency in opts.concurrency:

        async def rate(c: int = concurrency) -> None:
            profiler = opts.profile(server) if opts.profile and c == opts.concurrency[0] else None
            client_part = {CLIENT_PART: (os.getpid(),)}
            meter = CpuMeter({**server.parts, **client_part}, alone=frozenset(client_part))
            meter.start()
            try:
                res.figures[f"throughput_c{c}"] = await throughput(client, "chain", opts.total, c)
                res.cpu_per_run(c, meter.stop(), opts.total)
            finally:
                if profiler is not None:
                    profiler()

        await res.scenario(f"throughput c={concurrency}", rate(), limit)

    async def idle() -> None:
        res.figures["idle_cpu_ms_s"] = await idle_cpu([server.root_pid], opts.idle_seconds)

    await res.scenario("idle", idle(), limit)

    async def io() -> None:
        res.figures["io_wall_s"] = await io_bound(client, opts.io_runs)

    await res.scenario("io-bound", io(), limit)
    if opts.waiting:

        async def parked() -> None:
            res.figures.update(await waiting_runs(client, server, opts.waiting, opts.idle_seconds))

        await res.scenario("waiting", parked(), max(limit, 900))
    derive(res)
    await client.http.client.aclose()
    return res


def derive(res: Results) -> None:
    """Per-super-step overhead: the chain runs 10 super-steps, echo 1, so (chain p50 - echo
    p50) / 9 is what one more super-step costs end to end."""
    f = res.figures
    if "chain_p50" in f and "echo_p50" in f:
        f["step_overhead"] = (f["chain_p50"] - f["echo_p50"]) / 9
