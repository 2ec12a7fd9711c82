"""Wire types shared by the API, the workflows and the activities.

Workflow inputs and activity results stay tiny on purpose: a run's input, config and the graph's
state live in Postgres and never enter Temporal history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Literal

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
# A run is live while it can still change: pending or running, or waiting at an interrupt
# (status ``interrupted`` with its row's ``waiting`` set: storage/statuses.py).
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("pending", "running")
TERMINAL_STATUSES: tuple[RunStatus, ...] = ("success", "error", "timeout", "interrupted")
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
StepKind = Literal["local", "regular"]
StepOutcome = Literal["continue", "done", "interrupted"]
CancelAction = Literal["interrupt", "rollback"]

STEP_ACTIVITY = "graphyard.step"
FINISH_ACTIVITY = "graphyard.finish_run"
WAIT_ACTIVITY = "graphyard.wait_for_run"
FIRE_CRON_ACTIVITY = "graphyard.fire_cron"
WEBHOOK_ACTIVITY = "graphyard.webhook"
WEBHOOK_FAILED_ACTIVITY = "graphyard.webhook_failed"
RUN_WORKFLOW = "RunWorkflow"
WEBHOOK_WORKFLOW = "WebhookWorkflow"
CRON_WORKFLOW = "CronWorkflow"
THREAD_WORKFLOW = "ThreadWorkflow"
CANCEL_SIGNAL = "cancel"
RESUME_SIGNAL = "resume"
START_SIGNAL = "start"
SUBMIT_SIGNAL = "submit"
# ``ThreadWorkflow``'s query: whether it holds a run (waiting for its turn, or started).
HOLDS_QUERY = "holds"
# The failure type of a step stopped because a client cancelled its run.
RUN_CANCELLED = "RunCancelled"
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]


# Search attributes of run workflows (Keyword), registered by ``graphyard temporal setup`` and
# ``graphyard dev``: the Temporal UI finds runs by thread, assistant, graph and status.
THREAD_ID = SearchAttributeKey.for_keyword("ThreadId")
ASSISTANT_ID = SearchAttributeKey.for_keyword("AssistantId")
GRAPH_ID = SearchAttributeKey.for_keyword("GraphId")
RUN_STATUS = SearchAttributeKey.for_keyword("RunStatus")
SEARCH_ATTRIBUTES = (THREAD_ID, ASSISTANT_ID, GRAPH_ID, RUN_STATUS)


def run_workflow_id(run_id: str) -> str:
    """The Temporal workflow ID of a run: one run, one workflow, forever."""
    return f"run-{run_id}"


def thread_workflow_id(thread_id: str) -> str:
    """The Temporal workflow ID of the workflow that admits a thread's runs one at a time."""
    return f"thread-{thread_id}"


@dataclass(frozen=True)
class StepPolicy:
    """How the workflow calls the super-step activity; decided by settings, recorded in history."""

    kind: StepKind = "local"
    start_to_close: timedelta = timedelta(minutes=10)
    heartbeat: timedelta = timedelta(seconds=5)
    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=1)
    backoff: float = 2.0


@dataclass(frozen=True)
class WebhookPolicy:
    """How the workflow delivers a run's webhook; decided by settings, recorded in history."""

    max_attempts: int = 5
    initial_interval: timedelta = timedelta(seconds=1)
    backoff: float = 2.0
    maximum_interval: timedelta = timedelta(minutes=1)
    # One attempt's HTTP timeout (the activity's own timeout adds a margin for Postgres).
    timeout: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class RunRef:
    """Names a run; everything else about it is read from Postgres."""

    run_id: str
    thread_id: str
    assistant_id: str
    graph_id: str
    # The thread's previous live run: this one starts when it has ended (one run at a time).
    after_run_id: str | None = None


def run_search_attributes(run: RunRef, status: RunStatus = "pending") -> TypedSearchAttributes:
    """What a run's workflow starts tagged with; it keeps ``RunStatus`` current itself."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(THREAD_ID, run.thread_id),
            SearchAttributePair(ASSISTANT_ID, run.assistant_id),
            SearchAttributePair(GRAPH_ID, run.graph_id),
            SearchAttributePair(RUN_STATUS, status),
        ]
    )


def thread_search_attributes(thread_id: str) -> TypedSearchAttributes:
    """A thread's workflow is found by its thread too."""
    return TypedSearchAttributes([SearchAttributePair(THREAD_ID, thread_id)])


@dataclass(frozen=True)
class RunInput:
    """The input of ``RunWorkflow``."""

    run: RunRef
    policy: StepPolicy = field(default_factory=StepPolicy)
    # How long the run waits for an answer at an interrupt before it ends as ``timeout``.
    interrupt_timeout: timedelta | None = None
    # Started behind another run of its thread: waits for the thread workflow's ``start``.
    queued: bool = False
    # ``after_seconds`` of a run started by its thread's workflow (a child has no start delay).
    delay: timedelta | None = None
    # The run continues as new after this many super-steps (0: never), so its history stays
    # bounded however long the graph runs.
    steps_per_history: int = 0
    # Set when the run continued as new: where it goes on from.
    continued: Continuation | None = None
    # Set for a run with a ``webhook``: delivered once the run has ended (only such runs
    # schedule the webhook activity, so histories of runs without one are unchanged).
    webhook: WebhookPolicy | None = None


@dataclass(frozen=True)
class Continuation:
    """Where a run that continued as new stands: the steps it took, the checkpoint its next
    step expects, where its recursion-limit count started, attempts its next step spent."""

    steps: int
    expected_checkpoint_id: str | None
    segment: int
    spent: int
    # The nodes the next step runs (its summary in the history names them).
    next: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StepInput:
    """One super-step request.

    ``expected_checkpoint_id`` is the step guard: the checkpoint the thread must still be at for the
    step to run. After a crash, replayed steps find the thread already past it and only report.
    """

    run: RunRef
    index: int
    expected_checkpoint_id: str | None = None
    # The answer the run was waiting for at an interrupt: this step resumes with it.
    command: ResumeInput | None = None
    # The workflow waits at interrupts: a step that stops at one pauses the run, not ends it.
    pause: bool = False
    # The index where the run last (re)started: the recursion limit counts steps since then.
    segment: int = 0


@dataclass(frozen=True)
class StepResult:
    """What one super-step left behind; never state, only names and ids.

    An outcome other than ``continue`` means the step also wrote the run's end.
    """

    checkpoint_id: str | None
    step: int
    nodes: list[str]
    next: list[str]
    outcome: StepOutcome
    replayed: bool = False
    # The activity attempt that reported: a step found half done after failed attempts spent
    # them, and the next step gets only what is left of the retry budget.
    attempt: int = 1
    # The ids of the interrupts the run stopped at (outcome ``interrupted``), for the UI.
    interrupts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunError:
    """An error as clients read it: ``{"error": <class name>, "message": <text>}``; for a
    failed super-step also which one, and how many attempts it took (the dead-letter record)."""

    error: str
    message: str
    step: int | None = None
    attempts: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class FinishInput:
    """The terminal write of a run: its status, the thread's status and the result clients read."""

    run: RunRef
    status: RunStatus
    error: RunError | None = None
    action: CancelAction | None = None  # set when the run was cancelled


@dataclass(frozen=True)
class WebhookInput:
    """Deliver the webhook of a run that has ended (the run's row says where and what)."""

    run: RunRef
    timeout: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class WebhookDelivery:
    """The input of ``WebhookWorkflow``: deliver an ended run's webhook."""

    run: RunRef
    policy: WebhookPolicy


@dataclass(frozen=True)
class WebhookFailure:
    """Record on the run that its webhook was not delivered: Temporal gave up after
    ``attempts`` tries (``None``: unknown, the activity's record stands), because of
    ``error``."""

    run: RunRef
    error: str
    attempts: int | None = None


@dataclass(frozen=True)
class CancelInput:
    """The ``cancel`` signal of ``RunWorkflow`` (and of ``ThreadWorkflow``, naming the run)."""

    action: CancelAction = "interrupt"
    run_id: str | None = None


@dataclass(frozen=True)
class ThreadInput:
    """The input of ``ThreadWorkflow``."""

    thread_id: str
    # It continues as new, between runs, after starting this many (0: when Temporal suggests).
    runs_per_history: int = 0


@dataclass(frozen=True)
class SubmitRun:
    """The ``submit`` signal of ``ThreadWorkflow``: a new run of the thread, and how it meets
    the thread's runs in flight."""

    run: RunInput
    strategy: MultitaskStrategy = "enqueue"
    # The thread's runs in flight when this one arrived (some may predate this workflow).
    in_flight: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResumeInput:
    """The ``resume`` signal: what ``Command(resume=..., update=..., goto=...)`` the run waiting
    at an interrupt continues with. ``temporal workflow signal --name resume --input
    '{"resume": ...}'`` sends one."""

    resume: Any = None
    update: Any = None
    goto: Any = None


@dataclass(frozen=True)
class RunOutcomeSummary:
    """The result of ``RunWorkflow``: small, for the Temporal UI."""

    status: RunStatus
    steps: int


@dataclass(frozen=True)
class WaitInput:
    """Wait for a run's workflow to close."""

    run_id: str


@dataclass(frozen=True)
class CronFire:
    """The input of ``CronWorkflow``, which a cron's Temporal Schedule starts at each firing."""

    cron_id: str


@dataclass(frozen=True)
class FireInput:
    """Create the run of one firing; ``firing_id`` (the firing workflow's ID) makes it once."""

    cron_id: str
    firing_id: str
