"""A ``RunWorkflow`` that reads the wall clock (instead of ``workflow.now()``) before its first
super-step. It issues the same commands, so it replays on an unsandboxed runner; the workflow
sandbox refuses the call, which shows the sandboxed replay in tests/test_replay.py checks.

In a module of its own: the sandbox re-imports a workflow's module, and the test module's
imports (the worker, psycopg, uvicorn) have no place in a workflow."""

from __future__ import annotations

import datetime

from temporalio import workflow

from graphyard.types import RUN_WORKFLOW, RunInput, RunOutcomeSummary
from graphyard.workflows import RunWorkflow


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflowReadingTheClock(RunWorkflow):
    """Logs the wall clock's time, then runs as ``RunWorkflow``."""

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcomeSummary:
        workflow.logger.debug("started at %s", datetime.datetime.now())
        return await super().run(inp)
