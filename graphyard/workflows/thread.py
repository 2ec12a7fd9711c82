"""``ThreadWorkflow`` (ID ``thread-<thread_id>``): the one owner of a busy thread's turns.

A run that finds its thread idle starts its own workflow (the fast path). One that finds runs
in flight (or a run waiting at an interrupt, which it supersedes) is handed here with
signal-with-start (creating a run never waits for a worker); the API decided under the thread's
row lock that it may run, and answered ``reject`` with 409 there. Each submitted run names the
runs in flight when its row was written (``in_flight``). It starts, as a child ``RunWorkflow``,
once every one of those has ended and no other run of this workflow runs: a thread's runs never
overlap, and start in the order their rows were written whatever order their submissions
arrive in. A run in flight that this workflow did not start (the fast path's, or one a
terminated predecessor started) is waited for by an activity. ``interrupt`` and ``rollback``
cancel the runs in flight first; a run cancelled before its turn starts at once, to take its
cancel. It holds only run ids (Postgres has the runs), completes after a while idle, and
continues as new when Temporal suggests, between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from graphyard.types import (
        CANCEL_SIGNAL,
        HOLDS_QUERY,
        RUN_WORKFLOW,
        START_SIGNAL,
        SUBMIT_SIGNAL,
        THREAD_ID,
        THREAD_WORKFLOW,
        WAIT_ACTIVITY,
        CancelAction,
        CancelInput,
        RunOutcomeSummary,
        SubmitRun,
        ThreadInput,
        WaitInput,
        run_search_attributes,
        run_workflow_id,
    )

# How long an idle thread's workflow stays for the next run before it completes.
IDLE = timedelta(seconds=30)
# Thread workflows started before this patch start their runs without search attributes.
_TAG_RUNS = "tag-runs"
# Thread workflows started before this patch start each run as it arrives, held back until the
# ``start`` signal (``_start_on_arrival``), and leave a run that was in flight before them to
# the run itself (``RunRef.after_run_id``).
_OWN_TURNS = "thread-owns-turns"
# Thread workflows started from this build on take both changes above under this one marker (a
# ``patched`` call records a marker and upserts ``TemporalChangeVersion``, a billable action).
_CHANGES_2026_12 = "changes-2026-12"
_WAIT_TIMEOUT = timedelta(days=30)
_WAIT_HEARTBEAT = timedelta(seconds=30)
# Waiting for a run must not give up: it retries without a cap.
_WAIT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


@dataclass
class _Child:
    run_id: str
    handle: workflow.ChildWorkflowHandle[Any, RunOutcomeSummary]
    queued: bool  # started only to take its cancel (or, before the patch, behind another run)
    released: bool = False


@workflow.defn(name=THREAD_WORKFLOW)
class ThreadWorkflow:
    """One thread's runs, one at a time, in the order they were created."""

    def __init__(self) -> None:
        self._arrived: list[SubmitRun] = []
        self._children: list[_Child] = []
        # Cancels for runs whose workflow is not started yet.
        self._cancels: dict[str, CancelAction] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = 0  # runs this history started
        self._tag_runs = False  # start runs with their search attributes
        # Runs in flight this workflow did not start, and the waits for them.
        self._waits: dict[str, asyncio.Task[None]] = {}
        self._ended: set[str] = set()  # runs this history saw end
        self._current: bool | None = None  # started with ``_CHANGES_2026_12`` (``_patched``)

    @workflow.signal(name=SUBMIT_SIGNAL)
    def submit(self, inp: SubmitRun) -> None:
        run_id = inp.run.run.run_id
        owns_turns = self._patched(_OWN_TURNS)
        if owns_turns and (
            any(s.run.run.run_id == run_id for s in self._arrived)
            or any(c.run_id == run_id for c in self._children)
        ):
            return  # submitted again (a reconciled run): it is here already
        if inp.strategy in ("interrupt", "rollback"):
            action: CancelAction = "rollback" if inp.strategy == "rollback" else "interrupt"
            running = {child.run_id for child in self._children} | set(inp.in_flight)
            for earlier_id in sorted(running):
                self._fire(_signal_cancel(earlier_id, action))
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

    @workflow.query(name=HOLDS_QUERY)
    def holds(self, run_id: str) -> bool:
        """Whether this workflow has the run: waiting for its turn, or started and running."""
        return any(s.run.run.run_id == run_id for s in self._arrived) or any(
            c.run_id == run_id for c in self._children
        )

    @workflow.run
    async def run(self, inp: ThreadInput) -> None:
        # Started with graphyard's search attributes: they are registered, its runs get theirs.
        tagged = workflow.info().typed_search_attributes.get(THREAD_ID) is not None
        self._tag_runs = tagged and self._patched(_TAG_RUNS)
        owns_turns = self._patched(_OWN_TURNS)
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
            if owns_turns:
                await workflow.wait_condition(self._can_move)
                await self._move()
            else:
                await self._start_on_arrival()
            if not self._children and not self._arrived:
                # Between runs: the moment to start a fresh history if this one grew long.
                for wait in self._waits.values():
                    wait.cancel()  # no run is left to wait for them
                self._waits.clear()
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._history_full(inp) and not self._arrived:
                    workflow.continue_as_new(inp)

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, true without a marker of its own for workflows
        started with ``_CHANGES_2026_12``."""
        if self._current is None:
            self._current = workflow.patched(_CHANGES_2026_12)
        return self._current or workflow.patched(patch_id)

    def _can_move(self) -> bool:
        """Whether a run ended, a run was cancelled before its turn, or the next run may go
        (or must start waiting for runs in flight this workflow does not know)."""
        if any(c.handle.done() for c in self._children):
            return True
        if any(wait.done() for wait in self._waits.values()):
            return True
        if any(s.run.run.run_id in self._cancels for s in self._arrived):
            return True
        upcoming = self._next()
        return upcoming is not None and (
            self._may_start(upcoming) or bool(self._unwatched(upcoming))
        )

    async def _move(self) -> None:
        for child in [c for c in self._children if c.handle.done()]:
            self._children.remove(child)
            self._ended.add(child.run_id)
            if not child.handle.cancelled():
                child.handle.exception()  # a dead run fails its workflow: not this one's failure
        for run_id, wait in list(self._waits.items()):
            if wait.done():
                del self._waits[run_id]
                self._ended.add(run_id)
        # A run cancelled before its turn starts now, only to take its cancel.
        for submitted in [s for s in self._arrived if s.run.run.run_id in self._cancels]:
            self._arrived.remove(submitted)
            await self._start(submitted, queued=True)
        upcoming = self._next()
        if upcoming is None:
            return
        for run_id in self._unwatched(upcoming):
            self._waits[run_id] = asyncio.create_task(_wait_for(run_id))
        if self._may_start(upcoming):
            self._arrived.remove(upcoming)
            await self._start(upcoming, queued=False)

    def _next(self) -> SubmitRun | None:
        """The earliest-created run that has arrived: one that no other arrived run was in
        flight before (submissions of runs created close together can arrive swapped)."""
        arrived = {s.run.run.run_id for s in self._arrived}
        for submitted in self._arrived:
            if not arrived.intersection(submitted.in_flight):
                return submitted
        return self._arrived[0] if self._arrived else None

    def _may_start(self, submitted: SubmitRun) -> bool:
        """No run of this workflow runs, and every run in flight before it has ended."""
        if any(not c.queued for c in self._children):
            return False
        return all(run_id in self._ended for run_id in submitted.in_flight)

    def _unwatched(self, submitted: SubmitRun) -> list[str]:
        """Runs in flight before ``submitted`` that this workflow neither started, holds,
        waits for nor saw end."""
        known = (
            self._ended
            | self._waits.keys()
            | {c.run_id for c in self._children}
            | {s.run.run.run_id for s in self._arrived}
        )
        return [run_id for run_id in submitted.in_flight if run_id not in known]

    async def _start_on_arrival(self) -> None:
        """Before the patch: every run started on arrival, queued behind the previous one."""
        await workflow.wait_condition(lambda: bool(self._arrived) or self._head_changed())
        while self._arrived:
            submitted = self._arrived.pop(0)
            run_id = submitted.run.run.run_id
            # A run cancelled before it started waits, and takes its cancel instead of a start.
            await self._start(submitted, queued=bool(self._children) or run_id in self._cancels)
        while self._children and self._children[0].handle.done():
            ended = self._children.pop(0).handle
            if not ended.cancelled():
                ended.exception()  # a dead run fails its workflow: not this one's failure
        head = self._children[0] if self._children else None
        if head is not None and head.queued and not head.released:
            head.released = True
            self._fire(_release(head))

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

    async def _start(self, submitted: SubmitRun, *, queued: bool) -> None:
        run = submitted.run
        run_id = run.run.run_id
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
            # Submitted twice, or started elsewhere (a reconciled run): it runs once, and the
            # runs after it wait for it as for any run in flight.
            if self._patched(_OWN_TURNS) and run_id not in self._waits:
                self._waits[run_id] = asyncio.create_task(_wait_for(run_id))
            return
        self._started += 1
        action = self._cancels.pop(run_id, None)
        self._children.append(_Child(run_id, handle, queued, released=action is not None))
        if action is not None:
            self._fire(_signal_cancel(run_id, action))

    def _fire(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _wait_for(run_id: str) -> None:
    """Wait for a run in flight that this workflow did not start (queue.py)."""
    await workflow.execute_activity(
        WAIT_ACTIVITY,
        WaitInput(run_id),
        start_to_close_timeout=_WAIT_TIMEOUT,
        heartbeat_timeout=_WAIT_HEARTBEAT,
        retry_policy=_WAIT_RETRY,
        summary=f"wait for run {run_id}",
    )


async def _release(child: _Child) -> None:
    """Before the patch: the runs before it ended, the queued run may start. One that ended
    meanwhile (cancelled while queued) cannot take the signal."""
    with contextlib.suppress(Exception):
        await child.handle.signal(START_SIGNAL)


async def _signal_cancel(run_id: str, action: CancelAction) -> None:
    handle = workflow.get_external_workflow_handle(run_workflow_id(run_id))
    with contextlib.suppress(Exception):
        await handle.signal(CANCEL_SIGNAL, CancelInput(action=action))
