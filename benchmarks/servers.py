"""The servers ``make bench`` measures, each started on free loopback ports in a temp folder:
``graphyard dev`` (fresh data dir), the reference, ``langgraph dev`` from its own venv, and the
plugin: a Temporal dev server started with graphyard's flags and the plugin's workers from their
own venv. Also what the benchmark reads of their processes (CPU seconds, resident memory) from
/proc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from graphyard.devstack.children import stop_process
from graphyard.devstack.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
#: The benchmark's graphs (the examples' chain, fan-out, approval and tokens, plus echo and
#: sleepy from benchmarks/graphs), for all three contenders.
CONFIG = Path(__file__).resolve().parent / "langgraph.json"
HOST = "127.0.0.1"


@dataclass
class Server:
    """A running server: its URL, the processes that do the work (graphyard's workers, the
    reference's single process) and the root of its process tree."""

    name: str
    url: str
    worker_pids: tuple[int, ...]
    root_pid: int
    log: Path
    database_uri: str | None = None
    #: name -> root pids of each part whose CPU is counted (with their descendants)
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: the Temporal frontend (``host:port``) of a contender that runs on Temporal
    temporal_address: str | None = None


def absolute_config(dest: Path) -> Path:
    """``benchmarks/langgraph.json`` with absolute graph paths: ``langgraph dev`` resolves them
    from its working directory, not from the file's folder."""
    raw = json.loads(CONFIG.read_text())
    graphs = {}
    for graph_id, spec in raw["graphs"].items():
        path, _, attr = spec.rpartition(":")
        graphs[graph_id] = f"{(CONFIG.parent / path).resolve()}:{attr}"
    raw["graphs"] = graphs
    raw["dependencies"] = [str(CONFIG.parent)]
    dest.write_text(json.dumps(raw, indent=2))
    return dest


def _drain(stream: object, log: Path, ready: threading.Event, marker: str) -> None:
    """Copy a child's stdout to its log, setting ``ready`` when ``marker`` shows up (a pipe
    nobody reads would block the child once full)."""
    with log.open("a") as out:
        for line in stream:  # type: ignore[attr-defined]
            out.write(line)
            out.flush()
            if marker in line:
                ready.set()


def _wait_ok(url: str, proc: subprocess.Popen[str], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout:.0f}s; see {log}")


#: Where the servers' logs are kept after a run (the temp folders go).
LOGS = Path(__file__).resolve().parent / "results" / "logs"


def _keep(source: Path, name: str) -> None:
    """Copy a server's log file or folder to ``benchmarks/results/logs/<name>``."""
    dest = LOGS / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if source.is_dir():
            shutil.copytree(source, dest)
        else:
            dest.mkdir()
            shutil.copy2(source, dest / source.name)


@contextmanager
def graphyard(tmp: Path, step_kind: str, workers: int | None = None) -> Iterator[Server]:
    """``graphyard dev`` with a fresh data dir, no Temporal UI, quiet logs; ``workers`` worker
    processes (default: its own, one per core)."""
    data = tmp / "data"
    port = free_port()
    env = {**os.environ, "GRAPHYARD_STEP_ACTIVITY": step_kind, "GRAPHYARD_LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "graphyard", "dev", "--config", str(CONFIG), "--no-ui"]
    argv += ["--data-dir", str(data), "--host", HOST, "--port", str(port)]
    argv += ["--temporal-port", str(free_port())]
    if workers is not None:
        argv += ["--workers", str(workers)]
    log = tmp / "graphyard-dev.log"
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, cwd=tmp
    )
    ready = threading.Event()
    threading.Thread(
        target=_drain, args=(proc.stdout, log, ready, "graphyard is ready"), daemon=True
    ).start()
    try:
        deadline = time.monotonic() + 180
        while not ready.wait(0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"graphyard dev did not start; see {log} and {data}/logs")
        state = json.loads((data / "dev.json").read_text())
        # One worker process per core by default: ``worker``, ``worker-2``, ...
        pids = tuple(pid for name, pid in state["pids"].items() if name.startswith("worker"))
        url = f"http://{HOST}:{port}"
        _wait_ok(url, proc, log, 30)
        yield Server(
            f"graphyard ({step_kind})",
            url,
            worker_pids=pids,
            root_pid=proc.pid,
            log=data / "logs",
            database_uri=state["database_uri"],
            parts={
                **{k: (state["pids"][k],) for k in ("api", "temporal", "postgres")},
                "worker": pids,
            },
            temporal_address=state["temporal_address"],
        )
    finally:
        stop_process(proc, 60)
        _keep(data / "logs", f"graphyard-{step_kind}")


#: What keeps ``langgraph dev`` off the network: no LangSmith tracing, no CLI analytics, no
#: PyPI version check (it has no license key, so no metadata beacon either).
REFERENCE_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "LOG_LEVEL": "WARNING",
    "LOG_COLOR": "false",
}


@contextmanager
def reference(tmp: Path, venv: Path, jobs: int | None) -> Iterator[Server]:
    """``langgraph dev --no-browser --no-reload`` (in-memory) in its own venv; one process."""
    langgraph = venv / "bin" / "langgraph"
    if not langgraph.exists():
        raise RuntimeError(f"{langgraph} not found: `make bench` installs it")
    config = absolute_config(tmp / "langgraph.json")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "VIRTUAL_ENV"))
    }
    env.update(REFERENCE_ENV)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    argv = [str(langgraph), "dev", "--no-browser", "--no-reload", "--host", HOST]
    argv += ["--port", str(port), "--config", str(config)]
    if jobs is not None:
        argv += ["--n-jobs-per-worker", str(jobs)]
    log = tmp / "reference.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True
        )
    url = f"http://{HOST}:{port}"
    try:
        _wait_ok(url, proc, log, 120)
        yield Server(
            "reference",
            url,
            (proc.pid,),
            proc.pid,
            log,
            parts={"server (API + queue)": (proc.pid,)},
        )
    finally:
        stop_process(proc, 60)
        _keep(log, "reference")


def reference_versions(venv: Path) -> dict[str, str]:
    """The reference's package versions, for the results file."""
    return versions(
        venv, ("langgraph-cli", "langgraph-api", "langgraph-runtime-inmem", "langgraph")
    )


def versions(venv: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """The versions of ``packages`` installed in ``venv`` (empty if it cannot tell)."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    )
    try:
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", code, *packages],
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(out.stdout))
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError):
        return {}


# --- /proc ---------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


class CpuMeter:
    """CPU seconds used by each named process between ``start()`` and ``stop()``, with its
    descendants unless it is named in ``alone``. A process born in between (a new Postgres
    backend) counts whole; one that ended in between is missed."""

    def __init__(
        self, parts: dict[str, tuple[int, ...]], alone: frozenset[str] = frozenset()
    ) -> None:
        self.parts, self.alone = parts, alone
        self.before: dict[str, dict[int, float]] = {}

    def _pids(self, name: str) -> list[int]:
        roots = self.parts[name]
        return list(roots) if name in self.alone else [p for root in roots for p in tree(root)]

    def start(self) -> None:
        self.before = {
            name: {pid: cpu_seconds(pid) for pid in self._pids(name)} for name in self.parts
        }

    def stop(self) -> dict[str, float]:
        return {
            name: sum(
                cpu_seconds(pid) - self.before[name].get(pid, 0.0) for pid in self._pids(name)
            )
            for name in self.parts
        }


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))
