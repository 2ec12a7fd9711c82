"""A run's end: what it ended with (``RunEnd``) and the one write of it (``write_end``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.types import StateSnapshot
from psycopg import AsyncCursor
from psycopg.rows import DictRow

from graphyard.runs.kwargs import RunKwargs
from graphyard.serde import interrupt_json, to_jsonable
from graphyard.storage import events as event_log
from graphyard.storage import runs as run_rows
from graphyard.storage import threads as thread_rows
from graphyard.storage import wake
from graphyard.storage.rows import Conn
from graphyard.types import RunRef, RunStatus


@dataclass(frozen=True)
class RunEnd:
    """Everything the terminal write needs, as JSON-ready values."""

    status: RunStatus
    values: Any
    next: list[str]
    interrupts: dict[str, list[dict[str, Any]]]  # by task id, as threads show them
    stream_interrupts: list[dict[str, Any]]  # as wait/join bodies show them
    error: dict[str, Any] | None = None

    @classmethod
    def from_state(
        cls, state: StateSnapshot, status: RunStatus, error: dict[str, Any] | None = None
    ) -> RunEnd:
        return cls(
            status=status,
            values=to_jsonable(state.values),
            next=list(state.next),
            interrupts={
                task.id: [interrupt_json(i, stream=False) for i in task.interrupts]
                for task in state.tasks
                if task.interrupts
            },
            stream_interrupts=[interrupt_json(i, stream=True) for i in state.interrupts],
            error=error,
        )

    @property
    def output(self) -> Any:
        """The body of wait/join: final values, plus ``__interrupt__``; or ``__error__``."""
        if self.error is not None:
            return {"__error__": self.error}
        if self.status == "interrupted":
            return {}  # a cancelled run answers wait/join with {}, as the reference does
        if self.stream_interrupts:
            base = self.values if isinstance(self.values, dict) else {}
            return {**base, "__interrupt__": self.stream_interrupts}
        return self.values

    def last_events(self, run_id: str) -> list[event_log.Event]:
        """An ``error`` event if the run failed, then the marker that ends its stream."""
        out = [event_log.event("error", self.error)] if self.error is not None else []
        out.append(event_log.event(event_log.RUN_DONE, {"status": "run_done", "run_id": run_id}))
        return out

    @property
    def thread_status(self) -> str:
        if self.status == "error":
            return "error"
        return "interrupted" if self.next else "idle"


async def write_end(
    conn: Conn,
    channel: str,
    run: RunRef,
    kwargs: RunKwargs,
    end: RunEnd,
    *,
    pause: bool = False,
    webhook: bool = False,
) -> AsyncCursor[DictRow]:
    """Write a run's end once (a run already ended keeps its own) and its thread's status and
    values, and wake whoever waits for either: the run's last step writes it, ``finish_run``
    for a run that failed or was cancelled, and reconcile for a run whose workflow closed
    without it. ``pause``: the run stopped at an interrupt and waits for its answer instead;
    ``webhook``: it has one to deliver. The first statement's cursor tells whether the run
    ended now."""
    if pause:
        marker = event_log.event(event_log.RUN_PAUSED, {"run_id": run.run_id})
        written = await run_rows.pause(conn, run.run_id, output=end.output, last_events=[marker])
    else:
        written = await run_rows.finish(
            conn,
            run.run_id,
            status=end.status,
            output=end.output,
            error=end.error,
            last_events=end.last_events(run.run_id),
            webhook=webhook,
            values=end.values if webhook else None,
        )
    if kwargs.temporary and not pause:
        await thread_rows.delete_row(conn, run.thread_id)
    else:
        await thread_rows.record_run_end(
            conn,
            run.thread_id,
            status=end.thread_status,
            values=end.values,
            interrupts=end.interrupts,
            error=end.error,
            config={"configurable": kwargs.config.get("configurable") or {}},
        )
    # Wakes wait/join and stream followers (its events, its thread's).
    keys = [wake.run_ended(run.run_id), wake.events_of(run.run_id, run.thread_id)]
    await wake.notify(conn, channel, keys)
    return written
