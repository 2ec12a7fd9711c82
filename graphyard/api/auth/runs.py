"""Creating a run, as auth sees it: ``threads.create_run`` (whose handler may stamp the run's
metadata and return the filter the thread must match) and the implied ``assistants.read``."""

from __future__ import annotations

from typing import Any

from graphyard.api.auth.context import RequestAuth
from graphyard.runs.caller import ANONYMOUS, Caller
from graphyard.runs.request import RunCreate


async def admit_run(
    auth: RequestAuth, body: RunCreate, thread_id: str | None
) -> tuple[RunCreate, Caller]:
    """Authorize a run create; the body comes back with the metadata the handler left."""
    if auth.user is None:
        return body, ANONYMOUS
    value: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": body.assistant_id,
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.metadata or {}),
        "prevent_insert_if_inflight": body.multitask_strategy == "reject",
        "multitask_strategy": body.multitask_strategy or "enqueue",
        "if_not_exists": body.if_not_exists,
        "after_seconds": body.after_seconds,
        "kwargs": body.model_dump(exclude={"metadata"}, exclude_none=True),
    }
    thread_scope = await auth.authorize("threads", "create_run", value)
    assistant_scope = await auth.authorize(
        "assistants", "read", {"assistant_id": body.assistant_id, "metadata": {}}
    )
    body = body.model_copy(update={"metadata": value["metadata"]})
    return body, Caller(thread_scope, assistant_scope, auth.run_configurable(), auth.user.identity)
