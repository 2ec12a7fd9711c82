"""``graphyard dev``: one command, real children, supervised, stopped cleanly, resumable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from langgraph_sdk import get_client
from temporalio.client import Client

from graphyard.devstack.children import Child
from graphyard.devstack.ports import free_port
from tests.stack import TEST_CONFIG

pytestmark = pytest.mark.slow


class Dev:
    def __init__(self, data_dir: Path, port: int, temporal_port: int) -> None:
        self.data_dir, self.port, self.temporal_port = data_dir, port, temporal_port
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "graphyard", "dev",
            "--config", str(TEST_CONFIG),
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
            "--temporal-port", str(self.temporal_port),
            "--workers", "2",
            "--no-ui",
        ]  # fmt: skip

    def start(self) -> None:
        env = {**os.environ, "GRAPHYARD_DATABASE_SCHEMA": "public"}
        self.proc = subprocess.Popen(
            self.argv(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "graphyard is ready" in line:
                break
        else:
            raise AssertionError("graphyard dev exited:\n" + "".join(self.lines))

    def read_until(self, *texts: str) -> None:
        """Read the output until each of ``texts`` was printed, in any order."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        missing = set(texts)
        for line in self.proc.stdout:
            self.lines.append(line)
            missing -= {text for text in missing if text in line}
            if not missing:
                return
        raise AssertionError(f"{missing!r} never printed:\n" + "".join(self.lines))

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.data_dir / "dev.json").read_text())
        return state

    def sql(self, query: str, params: Any = None) -> list[Any]:
        with psycopg.connect(self.state["database_uri"], autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stdout is not None
        self.lines.extend(self.proc.stdout.read().splitlines(keepends=True))
        return self.proc.wait(60)


@contextmanager
def dev_stack(data_dir: Path) -> Iterator[Dev]:
    dev = Dev(data_dir, free_port(), free_port())
    try:
        dev.start()
        yield dev
    finally:
        if dev.proc is not None and dev.proc.poll() is None:
            dev.stop()


def assert_gone(pids: dict[str, int]) -> None:
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = {
            n: p
            for n, p in pids.items()
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        }
    assert not alive, f"orphans left: {alive}"


async def wait_sql(dev: Dev, query: str, params: Any) -> None:
    for _ in range(600):
        if dev.sql(query, params):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {query}")


async def test_dev_serves_supervises_stops_and_resumes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with dev_stack(data_dir) as dev:
        printed = "".join(dev.lines)
        assert f"http://127.0.0.1:{dev.port}/docs" in printed
        # Two workers, the build "dev" of the Worker Deployment "graphyard", current at once.
        assert "2 process(es), deployment graphyard, build dev (current)" in printed
        assert (dev.state["deployment"], dev.state["build_id"]) == ("graphyard", "dev")
        client = get_client(url=f"http://127.0.0.1:{dev.port}")
        ok = await client.http.client.get("/ok")
        assert ok.status_code == 200
        assert ok.json()["services"] == {
            "api": True,
            "postgres": True,
            "temporal": True,
            "worker": True,
        }
        thread = await client.threads.create()
        tid = thread["thread_id"]
        assert (await client.runs.wait(tid, "chain", input={"steps": []}))["steps"][-1] == "node_9"
        # The API's request lines show in the terminal (health checks stay quiet).
        dev.read_until(f"POST /threads/{tid}/runs/wait 200", "POST /threads 200")
        assert not any(" GET /ok " in line for line in dev.lines)

        # Its Temporal server knows graphyard's search attributes; every process has metrics.
        temporal = await Client.connect(dev.state["temporal_address"])
        query = f'ThreadId = "{tid}" and RunStatus = "success"'
        for _ in range(100):
            if [wf async for wf in temporal.list_workflows(query)]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the run is not found by its search attributes")
        async with httpx.AsyncClient() as http:
            for name, url in dev.state["metrics_urls"].items():
                assert f"{url} (" in printed, name
                text = (await http.get(url)).text
                prefix = "temporal_" if name.startswith("temporal-") else "graphyard_"
                assert prefix in text, name

        # A busy port is refused, never moved.
        clash = subprocess.run(
            [*dev.argv()[:-1], "--no-ui"], capture_output=True, text=True, timeout=60
        )
        assert clash.returncode == 2
        assert f"port {dev.port} on 127.0.0.1 (API) is already in use" in clash.stderr

        # A killed worker is restarted, and the run in flight finishes on the new one.
        dev.sql("CREATE TABLE node_runs (thread_id text, node text, at timestamptz DEFAULT now())")
        dev.sql("CREATE TABLE gates (thread_id text PRIMARY KEY)")
        run = await client.runs.create(tid, "counted", input={"steps": [], "gate": "c1"})
        await wait_sql(dev, "SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c1'", (tid,))
        workers = {n: p for n, p in dev.state["pids"].items() if n.startswith("worker")}
        assert sorted(workers) == ["worker", "worker-2"]
        for pid in workers.values():
            os.kill(pid, signal.SIGKILL)
        dev.read_until(*(f"{name} exited with code -9; restarting" for name in workers))
        dev.sql("INSERT INTO gates VALUES (%s)", (tid,))
        result = await client.runs.join(tid, run["run_id"])
        assert result["steps"][-5:] == ["c0", "c1", "c2", "c3", "c4"]
        assert not set(workers.values()) & set(dev.state["pids"].values())

        # A run in flight when the whole stack stops resumes after a restart.
        waiting = await client.runs.create(tid, "counted", input={"steps": [], "gate": "c3"})
        await wait_sql(dev, "SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c3'", (tid,))
        dev.sql("DELETE FROM gates")
        pids = dev.state["pids"]
        assert dev.stop() == 0
    assert_gone(pids)

    with dev_stack(data_dir) as again:
        client = get_client(url=f"http://127.0.0.1:{again.port}")
        assert (await client.threads.get(tid))["thread_id"] == tid
        assert len(await client.runs.list(tid)) == 3
        again.sql("INSERT INTO gates VALUES (%s)", (tid,))
        resumed = await client.runs.join(tid, waiting["run_id"])
        assert resumed["steps"][-5:] == ["c0", "c1", "c2", "c3", "c4"]
        assert (await client.runs.get(tid, waiting["run_id"]))["status"] == "success"
        # The run pinned to build "dev" went on on the restarted workers (2): same build ID.
        argv = ["deploy", "status", "--deployment", "graphyard"]
        argv += ["--address", again.state["temporal_address"]]
        status = subprocess.run(
            [sys.executable, "-m", "graphyard", *argv], capture_output=True, text=True, check=True
        )
        assert status.stdout.splitlines()[2].split()[:4] == ["dev", "current", "0", "2"]
        pids = again.state["pids"]
    assert_gone(pids)


def test_a_child_dying_young_is_restarted_after_a_growing_delay(tmp_path: Path) -> None:
    # A child whose code cannot start (a graph that fails to import) must not spin.
    argv = [sys.executable, "-c", "raise SystemExit(1)"]
    child = Child("worker", argv, dict(os.environ), tmp_path / "worker.log")
    delays = []
    for _ in range(7):
        child.start()
        assert child.proc is not None
        assert child.proc.wait(30) == 1
        delays.append(child.restart_delay())
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
