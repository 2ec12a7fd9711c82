"""Crons through langgraph-sdk: each one a Temporal Schedule whose firings are ordinary runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError
from temporalio.service import RPCError, RPCStatusCode

from graphyard.schedules import schedule_id
from tests.stack import Stack

pytestmark = pytest.mark.core


async def cron_runs(stack: Stack, cron_id: str, n: int) -> list[dict[str, Any]]:
    """Wait (bounded) until ``n`` runs of the cron have ended; their rows."""
    query = (
        "SELECT run_id, thread_id, status FROM runs "
        "WHERE kwargs->'config'->'configurable'->>'cron_id' = %s "
        "AND status NOT IN ('pending', 'running') ORDER BY created_at"
    )
    for _ in range(300):
        found = stack.sql(query, (cron_id,))
        if len(found) >= n:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"cron {cron_id} ran {len(found)} of {n} runs")


async def test_a_thread_cron_fires_runs_on_its_thread(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    cron = await stack.client.crons.create_for_thread(
        tid, "chain", schedule="@every 1s", input={"steps": []}, metadata={"team": "a"}
    )
    assert cron["thread_id"] == tid
    assert cron["payload"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert cron["next_run_date"] is not None
    runs = await cron_runs(stack, cron["cron_id"], 2)
    assert {str(r["thread_id"]) for r in runs} == {tid}
    assert {r["status"] for r in runs} == {"success"}
    state = await stack.client.threads.get_state(tid)
    assert state["values"]["steps"][-1] == "node_9"
    # Visible in Temporal as a schedule, which lists its recent firings.
    described = await stack.temporal.get_schedule_handle(schedule_id(cron["cron_id"])).describe()
    assert described.info.num_actions >= 2
    # Deleting the thread deletes its crons and their schedules.
    await stack.client.threads.delete(tid)
    assert await stack.client.crons.count(thread_id=tid) == 0
    with pytest.raises(RPCError) as gone:
        await stack.temporal.get_schedule_handle(schedule_id(cron["cron_id"])).describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND


async def test_a_stateless_cron_deletes_each_runs_thread(stack: Stack) -> None:
    cron = await stack.client.crons.create("chain", schedule="@every 1s", input={"steps": []})
    assert cron["thread_id"] is None
    assert cron["on_run_completed"] == "delete"
    (run,) = await cron_runs(stack, cron["cron_id"], 1)
    assert run["status"] == "success"
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(str(run["thread_id"]))
    await stack.client.crons.delete(cron["cron_id"])


async def test_search_update_pause_and_delete(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    end = datetime.now(UTC) + timedelta(days=3)
    daily = await stack.client.crons.create_for_thread(
        tid,
        "chain",
        schedule="0 9 * * *",
        timezone="Europe/Paris",
        end_time=end,
        metadata={"kind": "daily"},
    )
    hourly = await stack.client.crons.create(
        "chain", schedule="15 * * * *", metadata={"kind": "hourly"}
    )
    # 09:00 in Paris, within the next day (5-field cron as the reference takes it).
    next_run = datetime.fromisoformat(daily["next_run_date"])
    assert next_run.minute == 0
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=1)
    found = await stack.client.crons.search(thread_id=tid)
    assert [c["cron_id"] for c in found] == [daily["cron_id"]]
    assert await stack.client.crons.count(metadata={"kind": "hourly"}) == 1
    async with httpx.AsyncClient(base_url=stack.url) as http:
        got = (await http.get(f"/runs/crons/{hourly['cron_id']}")).json()
    assert got["schedule"] == "15 * * * *"
    handle = stack.temporal.get_schedule_handle(schedule_id(daily["cron_id"]))
    updated = await stack.client.crons.update(
        daily["cron_id"], schedule="30 10 * * *", enabled=False, metadata={"owner": "b"}
    )
    assert updated["enabled"] is False
    assert updated["next_run_date"] is None  # paused
    assert updated["metadata"] == {"kind": "daily", "owner": "b"}
    described = await handle.describe()
    assert described.schedule.state.paused
    (calendar,) = described.schedule.spec.calendars  # Temporal's form of "30 10 * * *"
    assert (calendar.hour[0].start, calendar.minute[0].start) == (10, 30)
    assert described.schedule.spec.time_zone_name == "Europe/Paris"
    assert [c["cron_id"] for c in await stack.client.crons.search(enabled=False)] == [
        daily["cron_id"]
    ]
    cleared = await stack.client.crons.update(daily["cron_id"], end_time=None, enabled=True)
    assert cleared["end_time"] is None
    assert cleared["next_run_date"] is not None
    await stack.client.crons.delete(daily["cron_id"])
    await stack.client.crons.delete(hourly["cron_id"])
    with pytest.raises(RPCError):
        await handle.describe()
    assert await stack.client.crons.count() == 0


async def test_bad_crons_are_refused_and_create_nothing(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        cases = [
            ("/runs/crons", {"assistant_id": "chain", "schedule": "every tuesday"}, 422),
            (
                "/runs/crons",
                {"assistant_id": "chain", "schedule": "* * * * *", "timezone": "Mars/Olympus"},
                422,
            ),
            ("/runs/crons", {"assistant_id": "chain"}, 422),
            ("/runs/crons", {"assistant_id": "nope", "schedule": "* * * * *"}, 422),
            (
                "/runs/crons",
                {"assistant_id": "00000000-0000-0000-0000-000000000001", "schedule": "* * * * *"},
                404,
            ),
            (
                f"/threads/{'0' * 8}-0000-0000-0000-{'0' * 12}/runs/crons",
                {"assistant_id": "chain", "schedule": "* * * * *"},
                404,
            ),
        ]
        for path, body, code in cases:
            response = await http.post(path, json=body)
            assert response.status_code == code, (body, response.text)
            assert "detail" in response.json()
        assert await stack.client.crons.count() == 0
        cron = await stack.client.crons.create_for_thread(tid, "chain", schedule="0 0 1 1 *")
        empty = await http.patch(f"/runs/crons/{cron['cron_id']}", json={})
        assert empty.status_code == 400
        assert empty.json() == {"detail": "Request body cannot be empty"}
        bad = await http.patch(f"/runs/crons/{cron['cron_id']}", json={"schedule": "nonsense"})
        assert bad.status_code == 422
        unknown = await http.get("/runs/crons/00000000-0000-0000-0000-000000000002")
        assert unknown.status_code == 404
        assert (await http.get("/runs/crons/not-a-uuid")).status_code == 422
        assert (
            await http.delete("/runs/crons/00000000-0000-0000-0000-000000000002")
        ).status_code == 404
    unchanged = await stack.client.crons.search()
    assert [(c["cron_id"], c["schedule"]) for c in unchanged] == [(cron["cron_id"], "0 0 1 1 *")]


async def test_schedules_of_other_shapes_are_refused_at_create_and_patch(stack: Stack) -> None:
    """Temporal would take 6 or 7 fields (seconds, years): the API takes the standard 5 and
    Temporal's @ forms only, and says so."""
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for schedule in ("* * * * * * *", "0 * * * * *", "@sometimes", "@every"):
            response = await http.post(
                "/runs/crons", json={"assistant_id": "chain", "schedule": schedule}
            )
            assert response.status_code == 422, (schedule, response.text)
            assert "expected 5 fields" in str(response.json()["detail"])
        assert await stack.client.crons.count() == 0
        cron = await stack.client.crons.create("chain", schedule="@daily", input={"steps": []})
        bad = await http.patch(f"/runs/crons/{cron['cron_id']}", json={"schedule": "* * * * * * *"})
        assert bad.status_code == 422
        assert "(7 fields)" in str(bad.json()["detail"])
    for schedule in ("@every 30s", "@hourly", "*/5 9-17 * * MON-FRI"):
        await stack.client.crons.update(cron["cron_id"], schedule=schedule)
    (kept,) = await stack.client.crons.search()
    assert kept["schedule"] == "*/5 9-17 * * MON-FRI"
