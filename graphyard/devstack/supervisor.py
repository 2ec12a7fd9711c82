"""``graphyard dev``: Postgres, Temporal, the API and its workers, supervised in one command.

Each child is its own process so that a test (or a crash) can kill one; a dead API or worker is
restarted and the restart logged. Everything lives under the data dir, so a restart resumes.

The workers are a version of the Worker Deployment ``graphyard`` with the fixed build ID
``dev``, made current once they poll, as production workers under ``graphyard deploy`` would be.
The build ID stays ``dev`` across restarts and code changes: a new build ID would leave the runs
pinned to the old one (a run waiting at an interrupt, say) without a worker. Restarted on
changed graph code, those runs go on with the new code, as with any unversioned worker.
``GRAPHYARD_DEPLOYMENT_NAME`` / ``GRAPHYARD_BUILD_ID`` in the environment
override both (an empty deployment name runs the worker unversioned).

Workers are one process per core by default (at most ``MAX_DEFAULT_WORKERS``): a worker is one
Python process, and on 2 cores a second one raised chain throughput from 9-11 to 14-15 runs/s
(a third lowered it again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from graphyard.config import Settings
from graphyard.devstack.children import Child
from graphyard.devstack.ports import ensure_port_free, free_port
from graphyard.devstack.postgres import EmbeddedPostgres
from graphyard.devstack.temporal import TemporalDevServer
from graphyard.graphs import GraphRegistry, load_config
from graphyard.storage.migrate import migrate
from graphyard.types import SEARCH_ATTRIBUTES
from graphyard.versioning import make_current, worker_version

# The dev worker's Worker Deployment version, unless the environment names another.
DEV_VERSIONING = {
    "GRAPHYARD_DEPLOYMENT_NAME": "graphyard",
    "GRAPHYARD_BUILD_ID": "dev",
}

log = logging.getLogger("graphyard.dev")

MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One worker process per core this process may run on, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


@dataclass
class DevOptions:
    config: Path
    host: str = "127.0.0.1"
    port: int = 2024
    data_dir: Path | None = None
    temporal_port: int = 7233
    ui_port: int = 8233
    ui: bool = True
    workers: int = field(default_factory=default_workers)

    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.config.resolve().parent / ".graphyard").resolve()


class DevStack:
    """Starts, supervises and stops the four processes of ``graphyard dev``."""

    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.data_dir = options.resolved_data_dir
        self.stopping = False
        self.postgres: EmbeddedPostgres | None = None
        self.temporal: TemporalDevServer | None = None
        self.children: list[Child] = []
        self.metrics_ports: dict[str, int] = {}
        self.version: WorkerDeploymentVersion | None = None

    def _check_ports(self) -> None:
        o = self.options
        ensure_port_free(o.host, o.port, "API", hint="stop the other process or pass --port")
        ensure_port_free(
            o.host,
            o.temporal_port,
            "Temporal",
            hint="stop the other process or pass --temporal-port",
        )
        if o.ui:
            ensure_port_free(
                o.host, o.ui_port, "Temporal UI", hint="stop it or pass --ui-port / --no-ui"
            )

    def start(self) -> None:
        o = self.options
        config = load_config(o.config)  # fail early, naming the file and key
        GraphRegistry(config)  # and on a graph that does not import
        self._check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", free_port(o.host), o.host)
        self.postgres.start()
        # Payload encryption is off unless the environment configures it; with the codec
        # endpoint on as well, the Temporal UI decodes through the API.
        codec_ui = o.ui and Settings().codec_endpoint
        self.temporal = TemporalDevServer(
            port=o.temporal_port,
            ui_port=o.ui_port if o.ui else None,
            db_file=self.data_dir / "temporal.db",
            host=o.host,
            log_file=logs / "temporal.log",
            # The run workflows' search attributes (the dev server registers them at start).
            search_attributes={key.name: "Keyword" for key in SEARCH_ATTRIBUTES},
            extra_args=["--ui-codec-endpoint", f"http://{o.host}:{o.port}/codec"]
            if codec_ui
            else [],
        )
        self.temporal.start()
        settings = Settings(
            config_path=config.path,
            temporal_address=self.temporal.address,
            database_uri=self.postgres.dsn,
            host=o.host,
            port=o.port,
        )
        asyncio.run(migrate(settings, config.project.store))
        env = {
            **DEV_VERSIONING,
            **os.environ,
            "GRAPHYARD_CONFIG_PATH": str(config.path),
            "GRAPHYARD_TEMPORAL_ADDRESS": self.temporal.address,
            "GRAPHYARD_DATABASE_URI": self.postgres.dsn,
            "GRAPHYARD_HOST": o.host,
            "GRAPHYARD_PORT": str(o.port),
        }
        if codec_ui and not env.get("GRAPHYARD_CODEC_CORS_ORIGINS"):
            env["GRAPHYARD_CODEC_CORS_ORIGINS"] = (
                f"http://{o.host}:{o.ui_port},http://localhost:{o.ui_port}"
            )
        python = [sys.executable, "-m", "graphyard"]
        api_env = {
            k: v
            for k, v in env.items()
            if k not in ("GRAPHYARD_WORKER_METRICS_PORT", "GRAPHYARD_TEMPORAL_METRICS_PORT")
        }
        # As `langgraph dev`: a hosted front end (a public origin) may call this local API.
        api_env.setdefault("GRAPHYARD_CORS_ALLOW_PRIVATE_NETWORK", "true")
        # The API's lines (one per request) show in the terminal too.
        self.children = [Child("api", [*python, "api"], api_env, logs / "api.log", echo=True)]
        # Each worker serves its metrics and the Temporal SDK's, each on a free port (the
        # first on the environment's ports, if it names them).
        self.metrics_ports = {}
        for n in range(1, max(1, o.workers) + 1):
            name = "worker" if n == 1 else f"worker-{n}"
            given = env if n == 1 else {}
            ports = {
                name: int(given.get("GRAPHYARD_WORKER_METRICS_PORT") or free_port(o.host)),
                f"temporal-{name}": int(
                    given.get("GRAPHYARD_TEMPORAL_METRICS_PORT") or free_port(o.host)
                ),
            }
            self.metrics_ports.update(ports)
            worker_env = {
                **env,
                "GRAPHYARD_METRICS_HOST": o.host,
                "GRAPHYARD_WORKER_METRICS_PORT": str(ports[name]),
                "GRAPHYARD_TEMPORAL_METRICS_PORT": str(ports[f"temporal-{name}"]),
            }
            log_file = logs / f"{name}.log"
            self.children.insert(-1, Child(name, [*python, "worker"], worker_env, log_file))
        for child in self.children:
            child.start()
        versioned = Settings(
            deployment_name=env["GRAPHYARD_DEPLOYMENT_NAME"], build_id=env["GRAPHYARD_BUILD_ID"]
        )
        self.version = worker_version(versioned, config)
        self._wait_ready(f"http://{o.host}:{o.port}/ok")
        self._write_state()
        print(f"  API:         http://{o.host}:{o.port}", flush=True)
        print(f"  API docs:    http://{o.host}:{o.port}/docs", flush=True)
        if o.ui:
            print(f"  Temporal UI: http://{o.host}:{o.ui_port}", flush=True)
        print(f"  Temporal:    {self.temporal.address} (namespace default)", flush=True)
        print(f"  Metrics:     http://{o.host}:{o.port}/metrics (API)", flush=True)
        for name, port in self.metrics_ports.items():
            what = f"Temporal SDK, {name[9:]}" if name.startswith("temporal-") else name
            print(f"               http://{o.host}:{port}/metrics ({what})", flush=True)
        workers = sum(1 for c in self.children if c.name.startswith("worker"))
        build = (
            f", deployment {self.version.deployment_name}, build {self.version.build_id} (current)"
            if self.version is not None
            else ""
        )
        print(f"  Workers:     {workers} process(es){build}", flush=True)
        print(f"graphyard is ready (data in {self.data_dir}; Ctrl-C stops)", flush=True)

    def _wait_ready(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise_once()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    self._make_worker_current()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"graphyard did not become ready in {timeout:.0f}s; see {self.data_dir / 'logs'}"
        )

    def _make_worker_current(self) -> None:
        """The worker's build takes the new runs (it polls: /ok said so)."""
        if self.version is None or self.temporal is None:
            return
        version, address = self.version, self.temporal.address

        async def make() -> None:
            client = await Client.connect(address)
            await make_current(client, "default", version)

        asyncio.run(make())

    def supervise_once(self) -> None:
        """Restart any child that died (and the servers, which keep their data)."""
        if self.stopping:
            return
        for server, name in ((self.postgres, "postgres"), (self.temporal, "temporal")):
            if (
                server is not None
                and server.process is not None
                and server.process.poll() is not None
            ):
                log.warning("%s exited with code %s; restarting", name, server.process.returncode)
                server.stop()
                server.start()
        now = time.monotonic()
        for child in self.children:
            if (
                child.restart_at is None
                and child.proc is not None
                and child.proc.poll() is not None
            ):
                assert child.proc is not None
                child.restarts += 1
                delay = child.restart_delay()
                child.restart_at = now + delay
                after = f" in {delay:.1f} s" if delay else ""
                log.warning(
                    "%s (pid %s) exited with code %s; restarting%s (restart #%d)",
                    child.name,
                    child.proc.pid,
                    child.proc.returncode,
                    after,
                    child.restarts,
                )
                print(
                    f"graphyard: {child.name} exited with code {child.proc.returncode}; "
                    f"restarting{after}",
                    flush=True,
                )
            if child.restart_at is not None and now >= child.restart_at:
                child.start()
                self._write_state()

    def _write_state(self) -> None:
        """``<data-dir>/dev.json``: where everything listens and which pids are ours (for tools
        and tests; rewritten on every restart)."""
        assert self.postgres is not None
        assert self.temporal is not None
        pids = {"postgres": self.postgres.process, "temporal": self.temporal.process}
        pids.update({c.name: c.proc for c in self.children})
        host = self.options.host
        state = {
            "api_url": f"http://{host}:{self.options.port}",
            "metrics_urls": {
                "api": f"http://{host}:{self.options.port}/metrics",
                **{k: f"http://{host}:{p}/metrics" for k, p in self.metrics_ports.items()},
            },
            "temporal_address": self.temporal.address,
            "database_uri": self.postgres.dsn,
            "deployment": self.version.deployment_name if self.version else None,
            "build_id": self.version.build_id if self.version else None,
            "pids": {name: proc.pid for name, proc in pids.items() if proc is not None},
        }
        path = self.data_dir / "dev.json"
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=2))
        path.with_suffix(".tmp").replace(path)

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()
        if self.temporal is not None:
            self.temporal.stop()
        if self.postgres is not None:
            self.postgres.stop()


def run_dev(options: DevOptions) -> int:
    """Run until Ctrl-C or SIGTERM, then stop every child."""
    stack = DevStack(options)
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        while not stop_requested:
            stack.supervise_once()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("graphyard: stopping", flush=True)
        stack.stop()
    return 0
