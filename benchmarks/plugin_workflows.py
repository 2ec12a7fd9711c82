"""The workflows of the plugin contender, written as the plugin's README and samples write them
(``temporalio-langgraph`` 0.1.0; samples-python ``langgraph_plugin/graph_api``): the graph is
fetched by name with ``graph(name)``, compiled in the workflow and invoked; every node runs as a
regular activity (benchmarks/plugin_worker.py registers the graphs).

Runs in the plugin's own venv (benchmarks/.plugin-venv), not graphyard's: the benchmark's
client starts these workflows by name (``GRAPH_WORKFLOW``, ``APPROVAL_WORKFLOW``)."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from temporalio import workflow
from temporalio.langgraph import graph

GRAPH_WORKFLOW = "PluginGraphWorkflow"
APPROVAL_WORKFLOW = "PluginApprovalWorkflow"


@workflow.defn(name=GRAPH_WORKFLOW)
class GraphWorkflow:
    """A graph run to its end, as the hello-world sample runs one: no checkpointer."""

    @workflow.run
    async def run(self, graph_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await graph(graph_id).compile().ainvoke(payload)
        return result


@workflow.defn(name=APPROVAL_WORKFLOW)
class ApprovalWorkflow:
    """Human in the loop, as the human-in-the-loop sample does it: ``interrupt()`` in a node
    (an activity) ends the first ``ainvoke``; the workflow shows the interrupt's value to a
    query, waits for a signal and resumes the graph with ``Command(resume=...)`` on an
    ``InMemorySaver`` (the README's checkpointer for interrupts)."""

    def __init__(self) -> None:
        self._pending: Any = None
        self._answered = False
        self._answer: Any = None

    @workflow.signal(name="resume")
    async def resume(self, answer: Any) -> None:
        self._answer, self._answered = answer, True

    @workflow.query(name="pending")
    def pending(self) -> Any:
        return self._pending

    @workflow.run
    async def run(self, graph_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        app = graph(graph_id).compile(checkpointer=InMemorySaver())
        config = RunnableConfig({"configurable": {"thread_id": workflow.info().workflow_id}})
        result = await app.ainvoke(payload, config, version="v2")
        if not result.interrupts:
            return dict(result.value)
        self._pending = result.interrupts[0].value
        await workflow.wait_condition(lambda: self._answered)
        resumed = await app.ainvoke(Command(resume=self._answer), config, version="v2")
        return dict(resumed.value)
