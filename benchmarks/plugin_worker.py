"""The plugin contender's worker: ``python -m benchmarks.plugin_worker --address A --task-queue Q``
from the plugin's venv (benchmarks/.plugin-venv), as its samples' ``run_worker.py`` does it.

It loads the benchmark's graphs (benchmarks/langgraph.json: the same modules graphyard and the
reference load) and gives each node the metadata the plugin requires, ``execute_in: activity``
with a 30 s start-to-close timeout (the human-in-the-loop sample's), then registers their
builders with ``LangGraphPlugin``. The plugin refuses nodes that are closures: those get a
qualified name of their own (their code unchanged). Prints ``plugin worker ready`` once it polls."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from temporalio.client import Client
from temporalio.langgraph import LangGraphPlugin
from temporalio.worker import Worker

from benchmarks.plugin_workflows import ApprovalWorkflow, GraphWorkflow

CONFIG = Path(__file__).resolve().parent / "langgraph.json"
#: The graphs the plugin contender runs. Not tokens (streamed through an API, which the plugin
#: has none of) nor fanout: its routing function is sync, and the graph's orchestration runs in
#: the workflow, where LangGraph's run_in_executor for a sync function raises
#: NotImplementedError (the workflow task fails, again and again).
GRAPHS = ("echo", "chain", "approval", "sleepy")
NODE_OPTIONS = {"execute_in": "activity", "start_to_close_timeout": timedelta(seconds=30)}


def _builder(graph_id: str, spec: str) -> StateGraph[Any, Any, Any, Any]:
    """The StateGraph behind ``graph_id`` in langgraph.json, each node marked for the plugin."""
    path, _, attr = spec.rpartition(":")
    loader = importlib.util.spec_from_file_location(f"bench_graph_{graph_id}", CONFIG.parent / path)
    assert loader is not None
    assert loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module  # the state's annotations resolve in its module
    loader.loader.exec_module(module)
    builder: StateGraph[Any, Any, Any, Any] = getattr(module, attr).builder
    for name, node in list(builder.nodes.items()):
        func = getattr(node.runnable, "func", None) or getattr(node.runnable, "afunc", None)
        if func is not None and "<locals>" in func.__qualname__:
            # The plugin refuses closures as nodes (it keys a node's cached result by
            # module.qualname); the chain's and sleepy's nodes are closures made in a loop, so
            # each gets a name of its own. The code that runs is unchanged.
            func.__qualname__ = f"{graph_id}_{name}"
        builder.nodes[name] = dataclasses.replace(
            node, metadata={**(node.metadata or {}), **NODE_OPTIONS}
        )
    return builder


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plugin_worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    specs = json.loads(CONFIG.read_text())["graphs"]
    plugin = LangGraphPlugin(graphs={g: _builder(g, specs[g]) for g in GRAPHS})
    client = await Client.connect(args.address, namespace=args.namespace)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[GraphWorkflow, ApprovalWorkflow],
        plugins=[plugin],
    )
    async with worker:
        print("plugin worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
