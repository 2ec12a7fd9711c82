"""Threads through langgraph-sdk: CRUD, search/count, copy, prune, state, update_state, history."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError

from graphyard.graphs import CheckpointerConfig, GraphRegistry, LoadedConfig
from graphyard.worker import running_worker
from tests.stack import Stack

pytestmark = pytest.mark.core

CHAIN = [f"node_{i}" for i in range(10)]


async def test_create_get_patch_delete(stack: Stack) -> None:
    thread_id = str(uuid.uuid4())
    created = await stack.client.threads.create(thread_id=thread_id, metadata={"team": "a"})
    assert created["thread_id"] == thread_id
    assert created["status"] == "idle"
    with pytest.raises(ConflictError):
        await stack.client.threads.create(thread_id=thread_id)
    same = await stack.client.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert same["metadata"] == {"team": "a"}
    patched = await stack.client.threads.update(thread_id, metadata={"env": "prod"})
    assert patched["metadata"] == {"team": "a", "env": "prod"}
    async with httpx.AsyncClient(base_url=stack.url) as http:
        minimal = await http.patch(
            f"/threads/{thread_id}", json={"metadata": {}}, headers={"Prefer": "return=minimal"}
        )
        assert minimal.status_code == 204
        deleted = await http.delete(f"/threads/{thread_id}")
        assert deleted.status_code == 204
        missing = await http.get(f"/threads/{thread_id}")
        assert missing.status_code == 404
        assert missing.json() == {"detail": f"Thread with ID {thread_id} not found"}


async def test_delete_removes_runs_and_checkpoints(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(tid, "chain", input={"steps": []})
    await stack.client.threads.delete(tid)
    assert (
        stack.sql("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (tid,))[0]["n"] == 0
    )
    assert stack.sql("SELECT count(*) AS n FROM runs WHERE thread_id = %s", (tid,))[0]["n"] == 0
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(tid)


async def test_search_and_count(stack: Stack) -> None:
    a = await stack.client.threads.create(metadata={"kind": "search-test", "n": 1})
    b = await stack.client.threads.create(metadata={"kind": "search-test", "n": 2})
    await stack.client.runs.wait(b["thread_id"], "chain", input={"steps": ["seed"]})
    found = await stack.client.threads.search(metadata={"kind": "search-test"}, sort_order="asc")
    assert [t["thread_id"] for t in found] == [a["thread_id"], b["thread_id"]]
    assert await stack.client.threads.count(metadata={"kind": "search-test"}) == 2
    by_values = await stack.client.threads.search(values={"steps": ["seed", *CHAIN]})
    assert [t["thread_id"] for t in by_values] == [b["thread_id"]]
    idle = await stack.client.threads.search(status="idle", metadata={"n": 1})
    assert [t["thread_id"] for t in idle] == [a["thread_id"]]
    page = await stack.client.threads.search(
        metadata={"kind": "search-test"}, limit=1, select=["thread_id", "status"]
    )
    assert page == [{"thread_id": b["thread_id"], "status": "idle"}]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        raw = await http.post(
            "/threads/search", json={"metadata": {"kind": "search-test"}, "limit": 1}
        )
        assert raw.headers["X-Pagination-Total"] == "2"
        assert raw.headers["X-Pagination-Next"] == "1"
        bad = await http.post("/threads/search", json={"select": ["nope"]})
        assert bad.status_code == 422


async def test_search_pages_report_totals_as_the_reference_does(stack: Stack) -> None:
    """A page costs its rows, not a count of every match: while more follow, the total is one
    past the page (langgraph_api's pagination headers); on the last page it is exact. The
    count endpoint counts."""
    kind = f"paged-{uuid.uuid4().hex[:8]}"
    for n in range(4):
        await stack.client.threads.create(metadata={"kind": kind, "n": n})
    async with httpx.AsyncClient(base_url=stack.url) as http:
        first = await http.post("/threads/search", json={"metadata": {"kind": kind}, "limit": 1})
        assert (first.headers["X-Pagination-Total"], first.headers["X-Pagination-Next"]) == (
            "2",
            "1",
        )
        last = await http.post(
            "/threads/search", json={"metadata": {"kind": kind}, "limit": 3, "offset": 2}
        )
        assert len(last.json()) == 2
        assert last.headers["X-Pagination-Total"] == "4"
        assert "X-Pagination-Next" not in last.headers
    assert await stack.client.threads.count(metadata={"kind": kind}) == 4


async def test_state_at_an_unknown_checkpoint_is_404(stack: Stack) -> None:
    tid = (await stack.client.threads.create())["thread_id"]
    await stack.client.runs.wait(tid, "chain", input={"steps": []})
    unknown = str(uuid.uuid4())
    for checkpoint_id in ("notacheckpoint", unknown):
        with pytest.raises(NotFoundError):
            await stack.client.threads.get_state(tid, checkpoint_id=checkpoint_id)
        with pytest.raises(NotFoundError):
            await stack.client.threads.get_state(tid, checkpoint={"checkpoint_id": checkpoint_id})
    before = await stack.client.threads.get_history(tid, limit=100)
    with pytest.raises(NotFoundError):
        await stack.client.threads.update_state(tid, {"steps": ["x"]}, checkpoint_id=unknown)
    assert await stack.client.threads.get_history(tid, limit=100) == before
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.get(f"/threads/{tid}/state/notacheckpoint")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Checkpoint 'notacheckpoint' not found in thread {tid}"}
    # A known one still reads.
    latest = before[0]["checkpoint"]
    at = await stack.client.threads.get_state(tid, checkpoint_id=latest["checkpoint_id"])
    assert at["values"]["steps"] == CHAIN


async def test_state_history_and_time_travel(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(tid, "chain", input={"steps": []})
    history = await stack.client.threads.get_history(tid, limit=20)
    assert history[0]["values"]["steps"] == CHAIN
    assert [h["metadata"]["step"] for h in history] == list(range(10, -2, -1))
    middle = history[5]
    assert middle["values"]["steps"] == CHAIN[:5]
    at = await stack.client.threads.get_state(
        tid, checkpoint_id=middle["checkpoint"]["checkpoint_id"]
    )
    assert at["values"] == middle["values"]
    assert at["next"] == ["node_5"]
    via_body = await stack.client.threads.get_state(tid, checkpoint=middle["checkpoint"])
    assert via_body["values"] == middle["values"]
    older = await stack.client.threads.get_history(tid, limit=2, before=middle["checkpoint"])
    assert [h["metadata"]["step"] for h in older] == [
        middle["metadata"]["step"] - 1,
        middle["metadata"]["step"] - 2,
    ]
    inputs = await stack.client.threads.get_history(tid, limit=5, metadata={"source": "input"})
    assert [h["metadata"]["step"] for h in inputs] == [-1]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        default = await http.get(f"/threads/{tid}/history")
        assert len(default.json()) == 1  # the server default limit is 1


async def test_update_state_and_copy(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    await stack.client.runs.wait(tid, "approval", input={"request": "ship"})
    assert (await stack.client.threads.get(tid))["status"] == "interrupted"
    updated = await stack.client.threads.update_state(tid, {"draft": "edited"}, as_node="ask")
    assert updated["checkpoint"]["thread_id"] == tid
    state = await stack.client.threads.get_state(tid)
    assert state["values"]["draft"] == "edited"
    assert state["checkpoint"]["checkpoint_id"] == updated["checkpoint_id"]
    assert state["next"] == ["act"]
    copied = await stack.client.threads.copy(tid)
    assert copied["thread_id"] != tid
    copy_state = await stack.client.threads.get_state(copied["thread_id"])
    assert copy_state["values"] == state["values"]


async def test_update_state_refusals(stack: Stack) -> None:
    fresh = await stack.client.threads.create()
    async with httpx.AsyncClient(base_url=stack.url) as http:
        no_graph = await http.post(f"/threads/{fresh['thread_id']}/state", json={"values": {}})
        assert no_graph.status_code == 400
        thread = await stack.client.threads.create()
        tid = thread["thread_id"]
        run = await stack.client.runs.create(tid, "counted", input={"steps": [], "gate": "c0"})
        await stack.wait_rows("SELECT 1 FROM node_runs WHERE thread_id = %s", (tid,))
        busy = await http.post(f"/threads/{tid}/state", json={"values": {"steps": ["x"]}})
        assert busy.status_code == 409
        assert run["run_id"] in busy.json()["detail"]
        stack.sql("INSERT INTO gates VALUES (%s)", (tid,))
        await stack.client.runs.join(tid, run["run_id"])
        # The graph's own edge code fails on these values: the client's fault, not a 500.
        fanned = await stack.client.threads.create(graph_id="fanout")
        before = await stack.client.threads.get_state(fanned["thread_id"])
        refused = await http.post(
            f"/threads/{fanned['thread_id']}/state",
            json={"values": {"results": []}, "as_node": "__start__"},
        )
        assert refused.status_code == 400
        assert "KeyError" in refused.json()["detail"]
        assert await stack.client.threads.get_state(fanned["thread_id"]) == before


async def test_prune(stack: Stack) -> None:
    keep = await stack.client.threads.create()
    gone = await stack.client.threads.create()
    await stack.client.runs.wait(keep["thread_id"], "chain", input={"steps": []})
    result = await stack.client.threads.prune([keep["thread_id"]], strategy="keep_latest")
    assert result == {"pruned_count": 1}
    rows = stack.sql(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (keep["thread_id"],)
    )
    assert rows[0]["n"] == 1
    assert (await stack.client.threads.get_state(keep["thread_id"]))["values"]["steps"] == CHAIN
    assert await stack.client.threads.prune([gone["thread_id"]], strategy="delete") == {
        "pruned_count": 1
    }
    with pytest.raises(NotFoundError):
        await stack.client.threads.get(gone["thread_id"])


async def test_supersteps_seed_state(stack: Stack) -> None:
    thread = await stack.client.threads.create(
        graph_id="chain",
        supersteps=[{"updates": [{"values": {"steps": ["seeded"]}, "as_node": "node_4"}]}],
    )
    state = await stack.client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"steps": ["seeded"]}
    assert state["next"] == ["node_5"]
    assert (await stack.client.threads.get(thread["thread_id"]))["status"] == "interrupted"


def _checkpoints(stack: Stack, thread_id: str) -> int:
    rows = stack.sql("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (thread_id,))
    return int(rows[0]["n"])


async def test_threads_expire_after_their_ttl(api: Stack, graphs: GraphRegistry) -> None:
    client = api.client
    doomed = await client.threads.create(ttl={"strategy": "delete", "ttl": 60})
    pruned = await client.threads.create(ttl={"strategy": "keep_latest", "ttl": 60})
    kept = await client.threads.create()
    shown = await client.threads.get(doomed["thread_id"], include=["ttl"])
    assert shown["ttl"]["strategy"] == "delete"
    assert shown["ttl"]["ttl_minutes"] == 60
    assert shown["ttl"]["expires_at"] > shown["updated_at"]
    assert (await client.threads.get(kept["thread_id"], include=["ttl"]))["ttl"] is None
    fast = GraphRegistry(
        LoadedConfig(
            graphs.config.path,
            graphs.config.project.model_copy(
                update={"checkpointer": CheckpointerConfig(ttl={"sweep_interval_minutes": 0.002})}
            ),
        )
    )
    async with running_worker(api.settings, api.temporal, fast):
        for thread in (doomed, pruned, kept):
            await client.runs.wait(thread["thread_id"], "chain", input={"steps": []})
        # Now 0.005 minutes = 0.3 s after each thread's last update; workers sweep every 0.1 s.
        for thread, strategy in ((doomed, "delete"), (pruned, "keep_latest")):
            await client.threads.update(
                thread["thread_id"], metadata={}, ttl={"strategy": strategy, "ttl": 0.005}
            )
        await api.wait_rows(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM threads WHERE thread_id = %s)",
            (doomed["thread_id"],),
        )
        await api.wait_rows(
            "SELECT 1 FROM threads WHERE thread_id = %s AND ttl_swept_at IS NOT NULL"
            " AND (SELECT count(*) FROM checkpoints WHERE thread_id = %s::text) = 1",
            (pruned["thread_id"], pruned["thread_id"]),
        )
    assert _checkpoints(api, doomed["thread_id"]) == 0
    assert api.sql("SELECT run_id FROM runs WHERE thread_id = %s", (doomed["thread_id"],)) == []
    assert _checkpoints(api, pruned["thread_id"]) == 1
    state = await client.threads.get_state(pruned["thread_id"])
    assert state["values"] == {"steps": CHAIN}
    assert _checkpoints(api, kept["thread_id"]) == 12
    updated = await client.threads.update(kept["thread_id"], metadata={}, ttl=60)
    assert updated["thread_id"] == kept["thread_id"]
    again = await client.threads.get(kept["thread_id"], include=["ttl"])
    assert again["ttl"]["strategy"] == "delete"
    assert again["ttl"]["ttl_minutes"] == 60
    async with httpx.AsyncClient(base_url=api.url) as http:
        bad = await http.post("/threads", json={"ttl": -1})
        assert bad.status_code == 422
        bad = await http.patch(f"/threads/{kept['thread_id']}", json={"ttl": {"ttl": 0}})
        assert bad.status_code == 422


async def test_storage_reports_what_checkpoints_occupy(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        empty = (await http.get(f"/threads/{tid}/storage")).json()
        await stack.client.runs.wait(tid, "chain", input={"steps": []})
        used = (await http.get(f"/threads/{tid}/storage")).json()
        missing = await http.get(f"/threads/{uuid.uuid4()}/storage")
    assert empty["total_bytes"] == 0
    assert used["checkpoints"]["count"] == _checkpoints(stack, tid) == 12
    assert used["channel_values"]["by_channel"]["steps"]["versions"] >= 10
    sections = ("checkpoints", "channel_values", "pending_writes")
    assert used["total_bytes"] == sum(used[s]["bytes"] for s in sections) > 0
    assert missing.status_code == 404
