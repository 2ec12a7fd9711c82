"""A worker killed with SIGKILL mid-node: the run finishes on a new worker, no completed
super-step runs again."""

from __future__ import annotations

import signal

import pytest

from tests.processes import worker_process
from tests.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_sigkill_worker_mid_node_loses_nothing(api: Stack) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    with worker_process(api.settings) as first:
        run = await api.client.runs.create(tid, "counted", input={"steps": [], "gate": "c2"})
        await api.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s AND node = 'c2'", (tid,))
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (await api.client.runs.get(tid, run["run_id"]))["status"] == "running"
    api.sql("INSERT INTO gates VALUES (%s)", (tid,))
    with worker_process(api.settings):
        result = await api.client.runs.join(tid, run["run_id"])
    assert result["steps"] == ["c0", "c1", "c2", "c3", "c4"]
    assert (await api.client.runs.get(tid, run["run_id"]))["status"] == "success"
    rows = api.sql(
        "SELECT node, count(*) AS n FROM node_runs WHERE thread_id = %s GROUP BY node", (tid,)
    )
    # c2 was in flight when the worker died: it runs again; every completed node ran once.
    assert {r["node"]: r["n"] for r in rows} == {"c0": 1, "c1": 1, "c2": 2, "c3": 1, "c4": 1}
    assert (await api.client.threads.get(tid))["status"] == "idle"
