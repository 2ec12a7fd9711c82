"""Who creates a run, as auth decided it (``graphyard.api.auth.runs.admit_run``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphyard.storage.filters import Scope


@dataclass(frozen=True)
class Caller:
    """Who creates a run: the filters its thread and assistant must match, the
    ``langgraph_auth_*`` configurable keys its graph gets, and the identity that keeps one
    caller's ``Idempotency-Key`` from naming another's run. Empty without auth."""

    thread_scope: Scope = None
    assistant_scope: Scope = None
    configurable: dict[str, Any] = field(default_factory=dict)
    identity: str | None = None


ANONYMOUS = Caller()
