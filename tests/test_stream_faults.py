"""Streams through faults: a killed API process, a killed worker, a client that hangs up."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import httpx
import pytest
from langgraph_sdk import get_client

from graphyard.config import Settings
from graphyard.graphs import GraphRegistry
from graphyard.worker import running_worker
from tests.processes import api_process, worker_process
from tests.stack import Stack, serve_api

pytestmark = [pytest.mark.slow, pytest.mark.faults]

HI = {"type": "human", "content": "hi"}


async def test_resume_on_a_second_api_process_after_kill_9(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    run = await stack.client.runs.create(
        tid,
        "streaming",
        input={"messages": [HI], "tokens": 10, "gate": "model"},
        stream_mode=["messages-tuple", "values"],
    )
    async with api_process(stack.settings) as (first, first_url):
        seen = []
        stream = get_client(url=first_url).runs.join_stream(tid, run["run_id"])
        async for part in stream:
            seen.append(part)
            if len(seen) == 8:
                first.send_signal(signal.SIGKILL)
                first.wait()
                break
        await stream.aclose()
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    async with api_process(stack.settings) as (_, second_url):
        rest = [
            p
            async for p in get_client(url=second_url).runs.join_stream(
                tid, run["run_id"], last_event_id=seen[-1].id
            )
        ]
    full = [p async for p in stack.client.runs.join_stream(tid, run["run_id"])]
    got = [(p.id, p.event, p.data) for p in seen + rest]
    assert got == [(p.id, p.event, p.data) for p in full]  # nothing lost, nothing twice
    assert full[-1].data["steps"] == ["model", "check"]


@pytest.mark.parametrize("settings", ["local", "regular"], indirect=True)
async def test_a_retried_step_announces_its_attempt(api: Stack) -> None:
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    with worker_process(api.settings) as worker:
        run = await api.client.runs.create(
            tid,
            "streaming",
            input={"messages": [HI], "tokens": 3, "gate": "model"},
            stream_mode=["messages-tuple", "updates"],
        )
        # Its tokens are in the log and the node is held: kill the worker mid-node.
        await api.wait_rows(
            "SELECT 1 FROM run_events WHERE run_id = %s AND event = 'messages' AND data LIKE %s",
            (run["run_id"], '%"w2"%'),
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    api.sql("INSERT INTO gates VALUES (%s)", (tid,))
    with worker_process(api.settings):
        parts = [p async for p in api.client.runs.join_stream(tid, run["run_id"])]
    events = [p.event for p in parts]
    starts = [i for i, e in enumerate(events) if e == "metadata"]
    assert [parts[i].data["attempt"] for i in starts] == [1, 2]
    tokens = events[starts[0] + 1 : starts[1]]
    assert tokens == ["messages"] * 5
    # The retry streams the step again in full, then the run goes on.
    assert events[starts[1] + 1 :] == ["messages"] * 5 + ["updates"] * 3
    assert len({p.id for p in parts}) == len(parts)
    assert (await api.client.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_a_hung_up_stream_cancels_its_run_when_asked(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    stream = stack.client.runs.stream(
        tid,
        "streaming",
        input={"messages": [HI], "gate": "model"},
        stream_mode="messages-tuple",
        on_disconnect="cancel",
    )
    run_id = None
    async for part in stream:
        if part.event == "metadata":
            run_id = part.data["run_id"]
        if part.event == "messages":
            break
    await stream.aclose()
    assert run_id is not None
    assert await stack.client.runs.join(tid, run_id) == {}
    assert (await stack.client.runs.get(tid, run_id))["status"] == "interrupted"
    assert (await stack.client.threads.get(tid))["status"] != "busy"


async def test_a_hung_up_stream_leaves_its_run_running_by_default(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    stream = stack.client.runs.stream(
        tid, "streaming", input={"messages": [HI], "gate": "model"}, stream_mode="messages-tuple"
    )
    run_id = None
    async for part in stream:
        if part.event == "metadata":
            run_id = part.data["run_id"]
        if part.event == "messages":
            break
    await stream.aclose()
    assert run_id is not None
    stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
    result = await stack.client.runs.join(tid, run_id)
    assert result["steps"] == ["model", "check"]


async def test_thread_stream_follows_every_run_and_state_updates(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    first = await stack.client.runs.create(tid, "chain", input={"steps": []})
    second = await stack.client.runs.create(tid, "chain", input={"steps": []})
    parts = []
    done = 0
    async for part in await stack.client.threads.join_stream(tid, last_event_id="0"):
        parts.append(part)
        done += part.event == "metadata" and part.data.get("status") == "run_done"
        if done == 2:
            break
    starts = [p.data["run_id"] for p in parts if p.event == "metadata" and "attempt" in p.data]
    ends = [p.data["run_id"] for p in parts if p.data.get("status") == "run_done"]
    assert starts == ends == [first["run_id"], second["run_id"]]
    assert sum(p.event == "values" for p in parts) == 2 * 11
    ids = [int(p.id) for p in parts if p.id is not None]
    assert ids == sorted(ids)

    lifecycle = await stack.client.threads.join_stream(
        tid, last_event_id="0", stream_mode=["lifecycle", "state_update"]
    )
    await stack.client.threads.update_state(tid, {"steps": ["edited"]})
    kinds = []
    async for part in lifecycle:
        kinds.append(part.event)
        if part.event == "state_update":
            assert part.data["thread_id"] == tid
            assert part.data["state"]["values"]["steps"][-1] == "edited"
            break
    assert kinds == ["metadata"] * 4 + ["state_update"]


async def test_many_concurrent_streams(stack: Stack) -> None:
    async def one() -> list[str]:
        thread = await stack.client.threads.create()
        return [
            p.event
            async for p in stack.client.runs.stream(
                thread["thread_id"], "chain", input={"steps": []}, stream_mode="updates"
            )
        ]

    results = await asyncio.gather(*(one() for _ in range(20)))
    for events in results:
        # Under load a step may be retried: its stream then says so with another metadata.
        assert events[0] == "metadata"
        assert [e for e in events if e != "metadata"] == ["updates"] * 10


async def test_events_past_retention_are_pruned(api: Stack, graphs: GraphRegistry) -> None:
    settings = api.settings.model_copy(
        update={
            "stream_retention": timedelta(milliseconds=1),
            "stream_prune_interval": timedelta(milliseconds=100),
        }
    )
    thread = await api.client.threads.create()
    tid = thread["thread_id"]
    run = await api.client.runs.create(tid, "chain", input={"steps": []})
    assert api.sql("SELECT count(*) AS n FROM run_events WHERE run_id = %s", (run["run_id"],)) == [
        {"n": 1}
    ]
    async with running_worker(settings, api.temporal, graphs):
        await api.client.runs.join(tid, run["run_id"])
        await api.wait_rows(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM run_events WHERE run_id = %s)",
            (run["run_id"],),
        )
    # A pruned run's stream is empty and closes at once.
    assert [p async for p in api.client.runs.join_stream(tid, run["run_id"])] == []


async def test_ended_stateless_runs_past_retention_are_pruned(
    api: Stack, graphs: GraphRegistry
) -> None:
    """A stateless run's thread goes when it ends, so nothing else would ever delete its row:
    it goes once past the stream retention. A run whose thread stays (kept, or stateful) stays."""
    settings = api.settings.model_copy(
        update={
            "stream_retention": timedelta(milliseconds=1),
            "stream_prune_interval": timedelta(milliseconds=100),
        }
    )
    thread = await api.client.threads.create()
    stateful = await api.client.runs.create(thread["thread_id"], "chain", input={"steps": []})
    gone = await api.client.runs.create(None, "chain", input={"steps": []})
    kept = await api.client.runs.create(None, "chain", input={"steps": []}, on_completion="keep")
    async with running_worker(settings, api.temporal, graphs):
        for run in (stateful, gone, kept):
            await api.client.runs.join(run["thread_id"], run["run_id"])
        await api.wait_rows(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = %s)", (gone["run_id"],)
        )
    left = api.sql(
        "SELECT run_id::text, status FROM runs WHERE run_id = ANY(%s::uuid[]) ORDER BY run_id",
        ([r["run_id"] for r in (stateful, gone, kept)],),
    )
    assert left == sorted(
        ({"run_id": r["run_id"], "status": "success"} for r in (stateful, kept)),
        key=lambda r: r["run_id"],
    )


async def test_a_client_that_stops_reading_holds_nothing_up(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    body = {
        "assistant_id": "streaming",
        "input": {"messages": [HI], "tokens": 400},
        "stream_mode": ["messages-tuple", "values", "debug"],
    }
    async with (
        httpx.AsyncClient(base_url=stack.url) as http,
        http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as stalled,
    ):
        run_id = stalled.headers["content-location"].rsplit("/", 1)[-1]
        # The stalled client reads nothing; the run still ends, and another client gets all.
        result = await stack.client.runs.join(tid, run_id)
        assert result["steps"] == ["model", "check"]
        replay = [p async for p in stack.client.runs.join_stream(tid, run_id)]
        assert sum(p.event == "messages" for p in replay) == 2 * 400 - 1


async def test_heartbeats_keep_a_quiet_stream_open(
    settings: Settings, graphs: GraphRegistry
) -> None:
    quick = settings.model_copy(update={"stream_heartbeat_seconds": 0.2})
    async with serve_api(quick, graphs) as url:
        client = get_client(url=url)
        thread = await client.threads.create()
        async with httpx.AsyncClient(base_url=url) as http:
            tid = thread["thread_id"]
            async with http.stream("GET", f"/threads/{tid}/stream") as quiet:
                lines = quiet.aiter_lines()
                assert [await anext(lines), await anext(lines)] == [": heartbeat", ""]
