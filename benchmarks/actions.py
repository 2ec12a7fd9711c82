"""What a run costs in Temporal's terms, counted from the histories of its workflows: history
events, and the billable actions Temporal Cloud would count (its unit of pricing).

The rules are Temporal Cloud's list of actions (docs.temporal.io/cloud/actions):

- a workflow started (by a client, a child start or continue-as-new): 1;
- an activity started or retried: 1 per attempt;
- local activities: all the markers one workflow task records count as 1 (Cloud "counts all
  RecordMarkers from each Workflow Task as one action"), so a patch marker recorded in a
  workflow task of its own counts 1 too;
- a timer started, a signal received, an update accepted, a child workflow initiated (its start
  counts again in the child's history), workflow options updated: 1 each;
- a search-attribute upsert: 1, unless it sets ``TemporalChangeVersion`` only (exempt).

Queries also count in Cloud ("query received by worker") but leave nothing in a history: the
scenarios that send some say how many."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

#: Event types that are one action each (the others count by the rules in ``count``).
ONE_EACH = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child initiated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options updated",
}
CHANGE_VERSION = "TemporalChangeVersion"


def count(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Billable actions by kind in one run's history (``events`` counts its events too)."""
    out: Counter[str] = Counter()
    marker_tasks: set[int] = set()
    started: set[int] = set()
    scheduled: list[int] = []
    for event in events:
        out["events"] += 1
        kind = event.event_type
        if kind in ONE_EACH:
            out[ONE_EACH[kind]] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled.append(event.event_id)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            started.add(attrs.scheduled_event_id)
            out["activity"] += max(1, attrs.attempt)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker_tasks.add(
                event.marker_recorded_event_attributes.workflow_task_completed_event_id
            )
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {CHANGE_VERSION}:
                out["search-attribute upsert"] += 1
    # An activity whose attempt never reported (still running, or timed out) was still started.
    out["activity"] += sum(1 for s in scheduled if s not in started)
    out["markers (one per workflow task)"] += len(marker_tasks)
    return out


def actions(counts: Counter[str]) -> int:
    return sum(v for k, v in counts.items() if k != "events")


async def history(client: Client, workflow_id: str) -> Counter[str]:
    """The counts of every run of ``workflow_id`` (continue-as-new followed back), or nothing
    if there is no such workflow."""
    out: Counter[str] = Counter()
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            events = [e async for e in handle.fetch_history_events()]
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return out
            raise
        out.update(count(events))
        first = events[0].workflow_execution_started_event_attributes if events else None
        if first is None or not first.continued_execution_run_id:
            return out
        run_id = first.continued_execution_run_id


async def closed(client: Client, workflow_id: str, timeout: float = 10.0) -> None:
    """Wait until the workflow is closed (a client may hear of a run's end from its own rows a
    moment before the workflow completes)."""
    deadline = time.monotonic() + timeout
    handle = client.get_workflow_handle(workflow_id)
    while time.monotonic() < deadline:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.05)


def figures(prefix: str, counts: Counter[str], runs: int) -> dict[str, float]:
    """``<prefix>_events`` and ``<prefix>_actions`` per run, and each kind of action."""
    out = {
        f"{prefix}_events": counts["events"] / runs,
        f"{prefix}_actions": actions(counts) / runs,
    }
    for kind, value in counts.items():
        if kind != "events":
            out[f"{prefix}_actions[{kind}]"] = value / runs
    return out
