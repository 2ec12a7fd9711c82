"""A run's kwargs: what its row keeps of the request (``runs.kwargs``, JSON), written once by
the run service (``submit``) and read by the worker, the starter and the webhook alike.

Clients see the same JSON as the run's ``kwargs``. Rows written by older versions lack some
fields: each has a default, and keys this model does not know are kept on the way through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send
from pydantic import BaseModel, ConfigDict

from graphyard.runs.users import USER_KEY, as_user
from graphyard.storage.rows import RunRow
from graphyard.types import RunRef


class RunKwargs(BaseModel):
    """One run's kwargs."""

    model_config = ConfigDict(frozen=True, extra="allow")

    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] = {}
    context: dict[str, Any] | None = None
    stream_mode: list[str] = ["values"]
    interrupt_before: list[str] | str | None = None
    interrupt_after: list[str] | str | None = None
    webhook: str | None = None
    feedback_keys: list[str] | None = None
    # A stateless run that does not keep its thread (``on_completion`` other than ``keep``).
    temporary: bool = False
    subgraphs: bool = False
    resumable: bool = False
    # Where the run starts (time travel): ``{"checkpoint_id", "checkpoint_ns", ...}``.
    checkpoint: dict[str, Any] | None = None
    durability: str = "async"
    checkpoint_during: bool = True
    after_seconds: float | None = None
    # The thread's runs in flight when this one was created: it starts after them.
    in_flight: list[str] = []
    # The fingerprint of the request that made it with an ``Idempotency-Key``.
    request_hash: str | None = None

    @classmethod
    def of(cls, row: RunRow) -> RunKwargs:
        """The kwargs of the run in ``row``."""
        return cls.model_validate(row["kwargs"] or {})

    def as_json(self) -> dict[str, Any]:
        """What the row keeps."""
        return self.model_dump()

    @property
    def configurable(self) -> dict[str, Any]:
        return dict(self.config.get("configurable") or {})

    @property
    def graph_id(self) -> str:
        return str(self.configurable["graph_id"])

    @property
    def recursion_limit(self) -> int:
        return int(self.config.get("recursion_limit") or 25)

    def graph_input(self) -> Any:
        """The first step's input: the command (resume/update/goto) if any, else the input."""
        return command_input(self.command) if self.command else self.input

    def runnable_config(self, run: RunRef, *, fork: bool = False) -> RunnableConfig:
        """The config every step of the run executes with. ``fork``: the first step's, which
        starts from the run's ``checkpoint`` when it names one (time travel)."""
        config = dict(self.config)
        configurable = self.configurable
        configurable.update(thread_id=run.thread_id, run_id=run.run_id, checkpoint_ns="")
        if isinstance(user := configurable.get(USER_KEY), Mapping):
            # Stored as JSON; the graph gets the reference's user (attributes and items).
            configurable[USER_KEY] = as_user(user)
        if fork and self.checkpoint:
            configurable.update(
                {k: v for k, v in self.checkpoint.items() if v is not None and k != "thread_id"}
            )
        config["configurable"] = configurable
        config.setdefault("metadata", {})
        return cast(RunnableConfig, config)


def command_input(command: dict[str, Any]) -> Any:
    """A client's ``{resume?, update?, goto?}`` as LangGraph's input: a ``Command`` (``goto``
    items may be ``{"node", "input"}`` sends), or ``None`` when it says nothing (continue)."""
    goto = command.get("goto")
    if command.get("resume") is None and command.get("update") is None and goto is None:
        return None
    if goto is not None:
        items = goto if isinstance(goto, list) else [goto]
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in items]
    return Command(
        update=command.get("update"),
        resume=command.get("resume"),
        goto=goto if goto is not None else (),
    )
