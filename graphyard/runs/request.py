"""A run request as clients send it (``RunCreateStateful`` / ``RunCreateStateless``); literals
mirror ``langgraph_sdk.schema``. Unknown request fields are tolerated, as the reference server
tolerates them."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
IfNotExists = Literal["create", "reject"]
OnCompletion = Literal["delete", "keep"]
OnDisconnect = Literal["cancel", "continue"]
Durability = Literal["sync", "async", "exit"]
StreamMode = Literal[
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "debug",
    "tasks",
    "checkpoints",
    "custom",
]
# A start delay of up to ten years (Temporal's timers overflow far beyond that).
MAX_DELAY_SECONDS = 10 * 365 * 24 * 3600


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        # Postgres text cannot hold NUL (JSON values are cleaned on the way in instead).
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name} must not contain NUL characters")
        return self


class Send(Body):
    """``goto``'s ``{"node", "input"}`` form: run ``node`` with ``input``."""

    node: str
    input: Any = None


class Command(Body):
    update: Any = None
    resume: Any = None
    # Checked here: a malformed one failed in the worker, on every attempt.
    goto: str | Send | list[str | Send] | None = None


class RunCreate(Body):
    """``RunCreateStateful`` / ``RunCreateStateless``: one model, the route decides."""

    assistant_id: str
    input: Any = None
    command: Command | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: MultitaskStrategy | None = None
    if_not_exists: IfNotExists | None = None
    on_disconnect: OnDisconnect | None = None
    on_completion: OnCompletion | None = None
    webhook: str | None = None
    after_seconds: float | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    durability: Durability | None = None
    checkpoint_during: bool | None = None
    feedback_keys: list[str] | None = None
