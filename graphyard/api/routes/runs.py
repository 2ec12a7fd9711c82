"""Runs: create, wait, join, get, list, cancel, delete, batch; stateful and stateless."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import StreamingResponse

from graphyard.api.auth import AuthDep
from graphyard.api.auth.runs import admit_run
from graphyard.api.deps import Deps, RunHeaders, RunId, ThreadId, check_uuid
from graphyard.api.models import WAIT, Run, returns
from graphyard.api.routes.threads import load_thread
from graphyard.api.routing import BodyRoute
from graphyard.api.schemas import MAX_OFFSET, RunsCancel, run_json
from graphyard.errors import NotFound, Unprocessable
from graphyard.runs import rules
from graphyard.runs.backends import Services
from graphyard.runs.cancel import cancel_in_background, cancel_run
from graphyard.runs.reconcile import reconciled, reconciled_all
from graphyard.runs.request import Command, RunCreate
from graphyard.runs.resume import resume_run
from graphyard.runs.submit import check_secrets, create_run
from graphyard.serde import dumps
from graphyard.storage import checkpoints as checkpoint_rows
from graphyard.storage import runs as rows
from graphyard.storage.filters import Scope
from graphyard.storage.rows import RunRow
from graphyard.storage.statuses import is_live
from graphyard.types import ACTIVE_STATUSES, RunStatus

router = APIRouter(tags=["runs"], route_class=BodyRoute)

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


async def _wait_body(
    services: Services, row: RunRow, cancel_on_disconnect: bool, settled: bool
) -> AsyncIterator[bytes]:
    """Newlines while the run lives (keep-alives: leading whitespace is legal JSON), then the
    run's result: the final values, ``__interrupt__`` or ``__error__``."""
    run_id = str(row["run_id"])

    async def fetch() -> RunRow | None:
        async with services.pool.connection() as conn:
            found = await rows.get(conn, run_id)
        return await reconciled(services, found) if found is not None else None

    answered = False
    try:
        async for event in services.waiter.until_done(
            run_id, fetch, services.settings.wait_keepalive_seconds, settled=settled
        ):
            if event is None:
                yield b"\n"
                continue
            output = event.row["output"] if event.row is not None else None
            answered = True
            yield dumps(output if output is not None else {})
    finally:
        if not answered and cancel_on_disconnect:
            cancel_in_background(services, run_id, str(row["thread_id"]))


def _waiting(
    services: Services,
    row: RunRow,
    location: str,
    cancel_on_disconnect: bool = False,
    settled: bool = False,
) -> StreamingResponse:
    return StreamingResponse(
        _wait_body(services, row, cancel_on_disconnect, settled),
        media_type="application/json",
        headers={"Location": location, "Content-Location": location.removesuffix("/join")},
    )


@router.post("/threads/{thread_id}/runs", **returns(Run))
async def create(
    thread_id: ThreadId,
    body: RunCreate,
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
    response: Response,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a background run on the thread and answer it at once (``pending``), with
    ``Content-Location`` pointing at it. ``multitask_strategy`` decides how it meets runs in
    flight (409 with ``reject``) and ``if_not_exists: "create"`` makes a missing thread; a body
    that answers a run waiting at an interrupt resumes that run, and a repeated
    ``Idempotency-Key`` finds the same run."""
    thread_id = check_uuid(thread_id, "thread")
    body, caller = await admit_run(auth, body, thread_id)
    row = (
        await create_run(
            services, body, thread_id=thread_id, idempotency_key=key, caller=caller, headers=headers
        )
    ).row
    response.headers["Content-Location"] = f"/threads/{thread_id}/runs/{row['run_id']}"
    return run_json(row)


@router.post("/threads/{thread_id}/runs/wait", **WAIT)
async def create_and_wait(
    thread_id: ThreadId,
    body: RunCreate,
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
    key: IdempotencyKey = None,
) -> StreamingResponse:
    """Create a run on the thread, hold the request until it ends, and answer its final values
    (with ``__interrupt__`` when it stopped at an interrupt, ``__error__`` when it failed).
    Newlines are sent as keep-alives meanwhile; with ``on_disconnect: "cancel"`` the run is
    cancelled if the client leaves."""
    thread_id = check_uuid(thread_id, "thread")
    body, caller = await admit_run(auth, body, thread_id)
    row = (
        await create_run(
            services, body, thread_id=thread_id, idempotency_key=key, caller=caller, headers=headers
        )
    ).row
    location = f"/threads/{thread_id}/runs/{row['run_id']}/join"
    return _waiting(services, row, location, body.on_disconnect == "cancel")


@router.post("/runs", **returns(Run))
async def create_stateless(
    body: RunCreate,
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
    response: Response,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a background run on a new thread of its own, deleted after the run unless
    ``on_completion: "keep"``, and answer the run at once."""
    body, caller = await admit_run(auth, body, None)
    row = (
        await create_run(
            services, body, thread_id=None, idempotency_key=key, caller=caller, headers=headers
        )
    ).row
    response.headers["Content-Location"] = f"/runs/{row['run_id']}"
    return run_json(row)


@router.post("/runs/wait", **WAIT)
async def create_stateless_and_wait(
    body: RunCreate, services: Deps, auth: AuthDep, headers: RunHeaders, key: IdempotencyKey = None
) -> StreamingResponse:
    """As ``POST /runs``, but hold the request until the run ends and answer its final values, as
    ``POST /threads/{thread_id}/runs/wait`` does."""
    body, caller = await admit_run(auth, body, None)
    row = (
        await create_run(
            services, body, thread_id=None, idempotency_key=key, caller=caller, headers=headers
        )
    ).row
    location = f"/threads/{row['thread_id']}/runs/{row['run_id']}/join"
    return _waiting(services, row, location, body.on_disconnect == "cancel")


@router.post("/runs/batch", **returns(list[Run]))
async def create_batch(
    body: Annotated[list[RunCreate], Body(min_length=1)],
    services: Deps,
    auth: AuthDep,
    headers: RunHeaders,
) -> list[dict[str, Any]]:
    """Several stateless background runs in one request (none if any webhook is refused, or
    auth refuses any)."""
    for item in body:
        check_secrets(services, item)
        rules.check_webhook(item.webhook, services.graphs.config.project)
    admitted = [await admit_run(auth, item, None) for item in body]
    created = [
        await create_run(
            services, item, thread_id=None, idempotency_key=None, caller=caller, headers=headers
        )
        for item, caller in admitted
    ]
    return [run_json(submitted.row) for submitted in created]


async def _load_run(services: Services, thread_id: str, run_id: str, scope: Scope = None) -> RunRow:
    thread_id = check_uuid(thread_id, "thread")
    run_id = check_uuid(run_id, "run")
    async with services.pool.connection() as conn:
        row = await rows.get(conn, run_id, thread_id, scope=scope)
    if row is None:
        raise NotFound("Not Found")
    return row


@router.get("/threads/{thread_id}/runs", **returns(list[Run]))
async def list_runs(
    thread_id: ThreadId,
    services: Deps,
    auth: AuthDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    status: RunStatus | None = None,
) -> list[dict[str, Any]]:
    """The thread's runs, newest first, paged by ``limit`` and ``offset`` and filtered by
    ``status``; 404 when the thread does not exist."""
    value = {"thread_id": thread_id, "status": status, "limit": limit, "offset": offset}
    scope = await auth.authorize("threads", "search", {**value, "metadata": None})
    thread = await load_thread(services, thread_id, scope)
    async with services.pool.connection() as conn:
        found = await rows.list_for_thread(
            conn, str(thread["thread_id"]), limit=limit, offset=offset, status=status, scope=scope
        )
    return [run_json(r) for r in await reconciled_all(services, found)]


@router.get("/threads/{thread_id}/runs/{run_id}", **returns(Run))
async def get(thread_id: ThreadId, run_id: RunId, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """The run; 404 when the thread or the run does not exist or the caller may not read it."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id, "run_id": run_id})
    await load_thread(services, thread_id, scope)
    row = await _load_run(services, thread_id, run_id, scope)
    return run_json(await reconciled(services, row))


@router.get("/threads/{thread_id}/runs/{run_id}/join", **WAIT)
async def join(
    thread_id: ThreadId,
    run_id: RunId,
    services: Deps,
    auth: AuthDep,
    cancel_on_disconnect: bool = False,
) -> StreamingResponse:
    """Wait for the run to end and answer its final values, as ``POST .../runs/wait`` does
    (keep-alive newlines meanwhile). With ``cancel_on_disconnect=true`` the run is cancelled if
    the client leaves before it ends."""
    scope = await auth.authorize("threads", "read", {"thread_id": thread_id, "run_id": run_id})
    row = await _load_run(services, thread_id, run_id, scope)
    location = f"/threads/{row['thread_id']}/runs/{row['run_id']}/join"
    return _waiting(services, row, location, cancel_on_disconnect)


@router.post("/threads/{thread_id}/runs/{run_id}/resume", **returns(Run))
async def resume(
    thread_id: ThreadId,
    run_id: RunId,
    services: Deps,
    auth: AuthDep,
    body: Annotated[Command | None, Body()] = None,
) -> dict[str, Any]:
    """Answer the interrupt a run waits at (``{"resume": ...}``, and/or ``update``, ``goto``):
    the same run goes on. 409 when the run does not wait. Auth: ``threads.create_run``, as
    answering through a run create is."""
    value = {
        "thread_id": thread_id,
        "run_id": run_id,
        "metadata": {},
        "kwargs": {"command": body.model_dump(exclude_none=True) if body else None},
    }
    scope = await auth.authorize("threads", "create_run", value)
    row = await _load_run(services, thread_id, run_id, scope)
    submitted = await resume_run(services, str(row["thread_id"]), str(row["run_id"]), body)
    return run_json(submitted.row)


CancelActionQuery = Annotated[Literal["interrupt", "rollback"], Query()]


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", response_model=None)
async def cancel(
    thread_id: ThreadId,
    run_id: RunId,
    services: Deps,
    auth: AuthDep,
    wait: bool = False,
    action: CancelActionQuery = "interrupt",
) -> Response | StreamingResponse:
    """Cancel a pending or running run, or one waiting at an interrupt: ``action=interrupt``
    keeps its completed steps, ``rollback`` deletes the run and its checkpoints. Answers 202 at
    once, or with ``wait=true`` the run's final values once it has stopped; 404 when the run is
    not live."""
    value = {"thread_id": thread_id, "run_id": run_id, "action": action}
    scope = await auth.authorize("threads", "update", value)
    row = await _load_run(services, thread_id, run_id, scope)
    if not is_live(row):
        raise NotFound(
            f"No matching runs to cancel. Run {row['run_id']} is {row['status']}; only pending "
            "or running runs, or runs waiting at an interrupt, can be cancelled."
        )
    await cancel_run(services, str(row["run_id"]), action, thread_id=str(row["thread_id"]))
    if wait:
        location = f"/threads/{row['thread_id']}/runs/{row['run_id']}/join"
        return _waiting(services, row, location, settled=True)
    return Response(status_code=202)


@router.post("/runs/cancel", status_code=204)
async def cancel_many(
    body: RunsCancel, services: Deps, auth: AuthDep, action: CancelActionQuery = "interrupt"
) -> Response:
    """Cancel the runs ``run_ids`` of ``thread_id``, or every live run with ``status``
    (``pending``, ``running`` or ``all``), with ``action`` as for one run. 204; 404 when no run
    matched, 422 when both forms are given."""
    if body.status is not None and (body.thread_id or body.run_ids):
        raise Unprocessable("Cannot combine status with thread_id or run_ids")
    if body.status is None and not (body.thread_id and body.run_ids):
        raise Unprocessable("Provide either status, or both thread_id and run_ids")
    thread_id = check_uuid(body.thread_id, "thread") if body.thread_id else None
    run_ids = [check_uuid(r, "run") for r in body.run_ids] if body.run_ids else None
    value = {"thread_id": thread_id, "run_ids": run_ids, "status": body.status, "action": action}
    scope = await auth.authorize("threads", "update", value)
    async with services.pool.connection() as conn:
        live = await rows.select_live(
            conn, thread_id=thread_id, run_ids=run_ids, status=body.status, scope=scope
        )
    if not live:
        raise NotFound("No runs found to cancel.")
    for row in live:
        await cancel_run(services, str(row["run_id"]), action, thread_id=str(row["thread_id"]))
    return Response(status_code=204)


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete(thread_id: ThreadId, run_id: RunId, services: Deps, auth: AuthDep) -> Response:
    """Delete a run and its checkpoints; a run in flight is rolled back (stopped, then deleted).
    204, or 404 when it does not exist."""
    scope = await auth.authorize("threads", "delete", {"thread_id": thread_id, "run_id": run_id})
    try:
        row = await _load_run(services, thread_id, run_id, scope)
    except NotFound:
        raise NotFound("Run not found") from None
    if row["status"] in ACTIVE_STATUSES:
        # Rolling back a live run deletes its row and checkpoints once it has stopped.
        await cancel_run(services, str(row["run_id"]), "rollback", thread_id=str(row["thread_id"]))
        return Response(status_code=204)
    async with services.pool.connection() as conn:
        await checkpoint_rows.delete_run_checkpoints(
            conn, str(row["thread_id"]), str(row["run_id"])
        )
        await rows.delete(conn, str(row["run_id"]), scope=scope)
    return Response(status_code=204)
