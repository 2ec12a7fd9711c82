"""``max_cached_workflows``: a worker keeps at most that many workflow instances in memory, and a
run waiting at an interrupt that was evicted from the cache resumes by replaying its history."""

from __future__ import annotations

import asyncio

import pytest

from graphyard.graphs import GraphRegistry
from graphyard.worker import running_worker
from tests.stack import Stack

PLAN = "plan for: ship"


@pytest.mark.parametrize("settings", [{"max_cached_workflows": 1}], indirect=True)
async def test_parked_runs_evicted_from_a_one_run_cache_resume(
    api: Stack, graphs: GraphRegistry
) -> None:
    async with running_worker(api.settings, api.temporal, graphs) as worker:
        assert worker.config()["max_cached_workflows"] == 1
        threads = [(await api.client.threads.create())["thread_id"] for _ in range(3)]
        for tid in threads:
            paused = await api.client.runs.wait(tid, "approval", input={"request": "ship"})
            assert "__interrupt__" in paused
        # All three at once: at most one of them is still cached, the others replay.
        results = await asyncio.gather(
            *(
                api.client.runs.wait(tid, "approval", command={"resume": {"approved": True}})
                for tid in threads
            )
        )
    for tid, result in zip(threads, results, strict=True):
        assert result["outcome"] == "done: " + PLAN
        (run,) = await api.client.runs.list(tid)
        assert run["status"] == "success"
