"""``ThreadWorkflow`` (ID ``thread-<thread_id>``): starts a busy thread's runs one at a time.

A run that finds its thread idle starts its own workflow (the fast path). One that finds runs
in flight is handed here with signal-with-start (creating a run never waits for a worker);
the API decided under the thread's row lock that it may run, and ``reject`` was answered 409
there. Runs start in the order they arrive, each as a child ``RunWorkflow``: the first waits
for the run in flight before this workflow existed, later ones for this workflow's ``start``
signal; ``interrupt`` and ``rollback`` cancel the runs in flight first. A cancel that reaches
a run before its workflow exists arrives here and is passed on. It holds only run ids
(Postgres has the runs), completes after a while idle, and continues as new when Temporal
suggests, between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from graphyard.types import (
        CANCEL_SIGNAL,
        RUN_WORKFLOW,
        START_SIGNAL,
        SUBMIT_SIGNAL,
        THREAD_ID,
        THREAD_WORKFLOW,
        CancelAction,
        CancelInput,
        RunOutcomeSummary,
        SubmitRun,
        ThreadInput,
        run_search_attributes,
        run_workflow_id,
    )

# How long an idle thread's workflow stays for the next run before it completes.
IDLE = timedelta(seconds=30)
# Thread workflows started before this patch start their runs without search attributes.
_TAG_RUNS = "tag-runs"


@dataclass
class _Child:
    run_id: str
    handle: workflow.ChildWorkflowHandle[Any, RunOutcomeSummary]
    queued: bool
    released: bool = False


@workflow.defn(name=THREAD_WORKFLOW)
class ThreadWorkflow:
    """One thread's runs, in the order they arrived."""

    def __init__(self) -> None:
        self._arrived: list[SubmitRun] = []
        self._children: list[_Child] = []
        # Cancels for runs whose workflow is not started yet.
        self._cancels: dict[str, CancelAction] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = 0  # runs this history started
        self._tag_runs = False  # start runs with their search attributes

    @workflow.signal(name=SUBMIT_SIGNAL)
    def submit(self, inp: SubmitRun) -> None:
        if inp.strategy in ("interrupt", "rollback"):
            action: CancelAction = "rollback" if inp.strategy == "rollback" else "interrupt"
            running = {child.run_id for child in self._children} | set(inp.in_flight)
            for run_id in sorted(running):
                self._fire(_signal_cancel(run_id, action))
            for earlier in self._arrived:
                self._cancels.setdefault(earlier.run.run.run_id, action)
        self._arrived.append(inp)

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, inp: CancelInput) -> None:
        """A cancel for a run that may not have its workflow yet."""
        if inp.run_id is None:
            return
        if any(c.run_id == inp.run_id for c in self._children):
            self._fire(_signal_cancel(inp.run_id, inp.action))
        else:
            self._cancels.setdefault(inp.run_id, inp.action)

    @workflow.run
    async def run(self, inp: ThreadInput) -> None:
        # Started with graphyard's search attributes: they are registered, its runs get theirs.
        tagged = workflow.info().typed_search_attributes.get(THREAD_ID) is not None
        self._tag_runs = tagged and workflow.patched(_TAG_RUNS)
        while True:
            if not self._children and not self._arrived:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: bool(self._arrived), timeout=IDLE, timeout_summary="idle"
                    )
                if not self._arrived:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not self._arrived:
                        return
            await workflow.wait_condition(lambda: bool(self._arrived) or self._head_changed())
            while self._arrived:
                await self._start(self._arrived.pop(0))
            while self._children and self._children[0].handle.done():
                ended = self._children.pop(0).handle
                if not ended.cancelled():
                    ended.exception()  # a dead run fails its workflow: not this one's failure
            head = self._children[0] if self._children else None
            if head is not None and head.queued and not head.released:
                head.released = True
                self._fire(_release(head))
            if not self._children and not self._arrived:
                # Between runs: the moment to start a fresh history if this one grew long.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._history_full(inp) and not self._arrived:
                    workflow.continue_as_new(inp)

    def _history_full(self, inp: ThreadInput) -> bool:
        return (
            bool(inp.runs_per_history and self._started >= inp.runs_per_history)
            or workflow.info().is_continue_as_new_suggested()
        )

    def _head_changed(self) -> bool:
        if not self._children:
            return False
        head = self._children[0]
        return head.handle.done() or (head.queued and not head.released)

    async def _start(self, submitted: SubmitRun) -> None:
        run = submitted.run
        run_id = run.run.run_id
        # A run cancelled before it started waits, and takes its cancel instead of a start.
        queued = bool(self._children) or run_id in self._cancels
        try:
            handle = await workflow.start_child_workflow(
                RUN_WORKFLOW,
                replace(run, queued=queued),
                id=run_workflow_id(run_id),
                result_type=RunOutcomeSummary,
                # A run executes once: a closed run's id is never reused.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                task_timeout=workflow.info().task_timeout,
                static_summary=f"graph {run.run.graph_id} · thread {run.run.thread_id}",
                search_attributes=run_search_attributes(run.run) if self._tag_runs else None,
            )
        except WorkflowAlreadyStartedError:
            return  # submitted twice (a retried request): it runs once
        self._started += 1
        action = self._cancels.pop(run_id, None)
        self._children.append(_Child(run_id, handle, queued, released=action is not None))
        if action is not None:
            self._fire(_signal_cancel(run_id, action))

    def _fire(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _release(child: _Child) -> None:
    """The runs before it ended: the queued run may start. One that ended meanwhile
    (cancelled while queued) cannot take the signal."""
    with contextlib.suppress(Exception):
        await child.handle.signal(START_SIGNAL)


async def _signal_cancel(run_id: str, action: CancelAction) -> None:
    handle = workflow.get_external_workflow_handle(run_workflow_id(run_id))
    with contextlib.suppress(Exception):
        await handle.signal(CANCEL_SIGNAL, CancelInput(action=action))
