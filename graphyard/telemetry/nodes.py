"""A span per graph node: a LangChain callback handler added to a traced super-step's config.

LangGraph runs each node as a chain run whose ``langgraph_node`` metadata names it; its span's
parent is the nearest enclosing node span (a subgraph's nodes nest in the node that called it),
else the step activity's span. Interrupts and ``Command`` hand-offs are not errors.
"""

from __future__ import annotations

import traceback
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.errors import GraphBubbleUp
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from graphyard.redaction import redact
from graphyard.types import RunRef

_tracer = trace.get_tracer("graphyard.nodes")


class NodeSpans(BaseCallbackHandler):
    """Opens a span when a node starts and ends it when the node ends."""

    # Called in the node's own task or thread, never through an executor hop.
    run_inline = True

    def __init__(self, run: RunRef, step: int) -> None:
        self._run = run
        self._step = step
        self._root = otel_context.get_current()  # the step activity's span
        self._parents: dict[UUID, UUID | None] = {}
        self._spans: dict[UUID, tuple[Span, str]] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id
        meta = metadata or {}
        node = meta.get("langgraph_node")
        if node is None or kwargs.get("name") != node:
            return
        namespace = str(meta.get("langgraph_checkpoint_ns", ""))
        parent = self._enclosing(parent_run_id)
        if parent is not None and parent[1] == namespace:
            return  # the node's own function, named like the node: already spanned
        ctx = trace.set_span_in_context(parent[0]) if parent is not None else self._root
        span = _tracer.start_span(
            f"node {node}",
            context=ctx,
            kind=SpanKind.INTERNAL,
            attributes={
                "langgraph.node": str(node),
                "langgraph.step": int(meta.get("langgraph_step", self._step)),
                "langgraph.checkpoint_ns": namespace,
                "graphyard.run_id": self._run.run_id,
                "graphyard.thread_id": self._run.thread_id,
                "graphyard.graph_id": self._run.graph_id,
            },
        )
        self._spans[run_id] = (span, namespace)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    def _enclosing(self, run_id: UUID | None) -> tuple[Span, str] | None:
        while run_id is not None:
            if run_id in self._spans:
                return self._spans[run_id]
            run_id = self._parents.get(run_id)
        return None

    def _end(self, run_id: UUID, error: BaseException | None) -> None:
        self._parents.pop(run_id, None)
        entry = self._spans.pop(run_id, None)
        if entry is None:
            return
        span = entry[0]
        if isinstance(error, GraphBubbleUp):
            span.set_attribute("langgraph.interrupted", True)
        elif error is not None:
            # Traces leave the worker: the worker's secrets are masked as in its logs.
            text = "".join(traceback.format_exception(error))
            masked = {"exception.message": redact(str(error)), "exception.stacktrace": redact(text)}
            span.record_exception(error, attributes=masked)
            span.set_status(
                Status(StatusCode.ERROR, f"{type(error).__name__}: {redact(str(error))}")
            )
        span.end()
