"""``make bench``: graphyard beside the reference, the bare floor and the Temporal LangGraph plugin.

- graphyard: ``graphyard dev`` (Postgres, Temporal, API, worker) with a fresh data dir, once per
  step kind in ``--kinds`` (local by default; ``--kinds local,regular`` adds a column);
- reference: the LangGraph Agent Server in its free in-memory mode, ``langgraph dev`` from its
  own venv (``make bench`` installs benchmarks/.reference-venv from
  benchmarks/reference-requirements.txt);
- floor: the same graphs stepped one super-step at a time with LangGraph + AsyncPostgresSaver in
  this process, on the Postgres graphyard dev started (its own database); no Temporal, no HTTP;
- plugin: the official Temporal LangGraph plugin (every node a regular activity), its workers
  from their own venv (``make bench`` installs benchmarks/.plugin-venv from
  benchmarks/plugin-requirements.txt) on a Temporal dev server with graphyard's flags.

All on free loopback ports, all bounded in count and time. Prints one Markdown table and the
issue's targets, and writes the figures (and every sample) to a JSON file. What each scenario
measures, and the latest table: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import durability, floor, plugin, report, scenarios, servers
from benchmarks.scenarios import Options, Results
from graphyard.devstack.supervisor import default_workers

RESULTS = Path(__file__).resolve().parent / "results"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run (~3 min)")
    parser.add_argument("--n", type=int, help="sequential runs per latency figure (default 20)")
    parser.add_argument("--total", type=int, help="chain runs per throughput figure (200)")
    parser.add_argument("--concurrency", default="20,50", help="throughput concurrencies")
    parser.add_argument("--io-runs", type=int, help="sleepy runs started at once (200)")
    parser.add_argument("--waiting", type=int, help="runs left at an interrupt (1000; 0: skip)")
    parser.add_argument("--idle-seconds", type=float, help="how long they are watched (10)")
    parser.add_argument("--kinds", default="local", help="graphyard step kinds: local,regular")
    parser.add_argument(
        "--only", default="graphyard,reference,floor,plugin", help="which of the four to run"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes of graphyard and of the plugin alike (default: graphyard dev's "
        "own, one per core, and as many for the plugin)",
    )
    parser.add_argument(
        "--plugin-venv",
        type=Path,
        default=Path(__file__).resolve().parent / ".plugin-venv",
        help="the venv holding temporalio-langgraph (make bench installs it)",
    )
    parser.add_argument(
        "--reference-venv",
        type=Path,
        default=Path(__file__).resolve().parent / ".reference-venv",
        help="the venv holding langgraph-cli[inmem] (make bench installs it)",
    )
    parser.add_argument(
        "--reference-jobs",
        type=int,
        help="langgraph dev --n-jobs-per-worker (default: its own default, 1)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the graphyard worker and API during the first throughput scenario "
        "(the profiled figure is then not comparable)",
    )
    return parser.parse_args()


def _options(args: argparse.Namespace) -> Options:
    quick = args.quick
    return Options(
        n=args.n or (8 if quick else 20),
        total=args.total or (50 if quick else 200),
        concurrency=tuple(int(c) for c in args.concurrency.split(",") if c),
        io_runs=args.io_runs or (50 if quick else 200),
        waiting=args.waiting if args.waiting is not None else (100 if quick else 1000),
        idle_seconds=args.idle_seconds or (5.0 if quick else 10.0),
    )


class Load:
    """The machine's CPU use while a block runs, split into ours (this process and everything
    it started) and the rest (other work on this shared machine), in cores."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        busy0, _ = servers.machine_busy()
        ours0 = servers.tree_cpu(servers.tree(os.getpid()))
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            busy = (servers.machine_busy()[0] - busy0) / servers.TICKS
            ours = servers.tree_cpu(servers.tree(os.getpid())) - ours0
            self.phases[name] = {
                "wall_s": wall,
                "loadavg_1m_start": load0,
                "loadavg_1m_end": os.getloadavg()[0],
                "machine_cores_busy": busy / wall,
                "ours_cores": ours / wall,
                "others_cores": max(0.0, busy - ours) / wall,
            }


def _py_spy() -> str | None:
    for candidate in (Path(sys.executable).parent / "py-spy", Path("/usr/local/bin/py-spy")):
        if candidate.exists():
            return str(candidate)
    return None


def _profiler(kind: str) -> Callable[[servers.Server], Callable[[], None]]:
    """Starts py-spy on the worker and the API; the returned callable stops both."""
    py_spy = _py_spy()
    if py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")

    def start(server: servers.Server) -> Callable[[], None]:
        RESULTS.mkdir(parents=True, exist_ok=True)
        state = json.loads((server.log.parent / "dev.json").read_text())
        procs = []
        for name in ("worker", "api"):
            out = RESULTS / f"profile-{kind}-{name}.txt"
            argv = [py_spy, "record", "--format", "raw", "--rate", "200", "--nonblocking"]
            argv += ["--full-filenames"]
            argv += ["-o", str(out), "-p", str(state["pids"][name])]
            procs.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(1)  # py-spy attaches

        def stop() -> None:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                proc.wait(60)
            print(f"    profiles: {RESULTS}/profile-{kind}-{{worker,api}}.txt", flush=True)

        return stop

    return start


def main() -> None:
    args = _parse()
    opts = _options(args)
    only = set(args.only.split(","))
    kinds = [k for k in args.kinds.split(",") if k]
    load = Load()
    columns: dict[str, Results] = {}
    started = dt.datetime.now(dt.UTC)
    if "reference" in only and not (args.reference_venv / "bin" / "langgraph").exists():
        raise SystemExit(f"no reference in {args.reference_venv}: run `make bench`")
    if "plugin" in only and not (args.plugin_venv / "bin" / "python").exists():
        raise SystemExit(f"no plugin venv in {args.plugin_venv}: run `make bench`")
    venv = args.reference_venv.resolve()
    workers = args.workers or default_workers()
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="graphyard-bench-") as tmp:
        for i, kind in enumerate(kinds):
            name = "graphyard" if len(kinds) == 1 else f"graphyard {kind}"
            want_floor = i == 0 and "floor" in only
            if "graphyard" not in only and not want_floor:
                continue
            folder = Path(tmp) / f"graphyard-{kind}"
            folder.mkdir()
            print(f"graphyard dev ({kind} steps): starting", flush=True)
            try:
                with servers.graphyard(folder, kind, args.workers) as server:
                    if want_floor:
                        assert server.database_uri is not None
                        print("floor (LangGraph + AsyncPostgresSaver, one process)", flush=True)
                        (pg,) = server.parts["postgres"]
                        try:
                            with load.phase("floor"):
                                columns["floor"] = asyncio.run(
                                    floor.measure(server.database_uri, pg, opts)
                                )
                        except Exception as exc:
                            failed["floor"] = f"{type(exc).__name__}: {exc}"
                            print(f"floor: FAILED {failed['floor']}", flush=True)
                    if "graphyard" in only:
                        opts.profile = _profiler(kind) if args.profile and i == 0 else None
                        print(f"{name} at {server.url}", flush=True)
                        with load.phase(name):
                            columns[name] = asyncio.run(scenarios.measure(server, opts))
                            opts.profile = None
                            if i == 0:  # its Temporal costs, then kill -9 of its workers
                                asyncio.run(
                                    durability.measure(server, columns[name], opts.scenario_timeout)
                                )
            except Exception as exc:  # the other contenders still run
                failed[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name}: FAILED {failed[name]}", flush=True)
        if "reference" in only:
            folder = Path(tmp) / "reference"
            folder.mkdir()
            print("reference (langgraph dev, in memory): starting", flush=True)
            try:
                with servers.reference(folder, venv, args.reference_jobs) as server:
                    print(f"reference at {server.url}", flush=True)
                    with load.phase("reference"):
                        columns["reference"] = asyncio.run(scenarios.measure(server, opts))
            except Exception as exc:
                failed["reference"] = f"{type(exc).__name__}: {exc}"
                print(f"reference: FAILED {failed['reference']}", flush=True)
        if "plugin" in only:
            folder = Path(tmp) / "plugin"
            folder.mkdir()
            print(f"plugin (temporalio-langgraph, {workers} worker(s)): starting", flush=True)
            try:
                with plugin.stack(folder, args.plugin_venv.resolve(), workers) as stack:
                    print(f"plugin at {stack.temporal.address}", flush=True)
                    with load.phase("plugin"):
                        columns["plugin"] = asyncio.run(plugin.measure(stack, opts))
            except Exception as exc:
                failed["plugin"] = f"{type(exc).__name__}: {exc}"
                print(f"plugin: FAILED {failed['plugin']}", flush=True)
    order = [n for n in columns if n.startswith("graphyard")] + [
        n for n in ("reference", "floor", "plugin") if n in columns
    ]
    figures = {n: columns[n].figures for n in order}
    main_column = order[0] if order and order[0].startswith("graphyard") else "graphyard"
    text = report.table(figures, main_column, opts.waiting, opts.io_runs)
    evaluated = report.evaluate(figures, main_column)
    print("\n" + text + "\n")
    print(report.targets_table(evaluated) + "\n")
    cpu_text = report.cpu_table({n: columns[n].cpu for n in order}, opts.concurrency)
    print(cpu_text + "\n")
    for n in order:
        for scenario, error in columns[n].errors.items():
            print(f"{n}: {scenario} failed: {error}")
    for n, error in failed.items():
        print(f"{n}: did not run: {error}")
    for phase, figures_ in load.phases.items():
        print(
            f"load during {phase}: {figures_['wall_s']:.0f} s, ours "
            f"{figures_['ours_cores']:.2f} cores, others {figures_['others_cores']:.2f} cores, "
            f"loadavg {figures_['loadavg_1m_start']:.1f} -> {figures_['loadavg_1m_end']:.1f}"
        )
    out: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "options": {k: v for k, v in vars(opts).items() if k != "profile" and not callable(v)},
        "args": {k: str(v) for k, v in vars(args).items()},
        "reference_versions": servers.reference_versions(venv),
        "plugin_versions": servers.versions(
            args.plugin_venv, ("temporalio-langgraph", "temporalio", "langgraph")
        ),
        "workers": workers,
        "load": load.phases,
        "columns": {n: {"figures": columns[n].figures, "errors": columns[n].errors} for n in order},
        "samples": {n: columns[n].samples for n in order},
        "targets": evaluated,
        "table": text,
        "cpu_table": cpu_text,
        "failed": failed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
