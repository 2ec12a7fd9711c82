"""Logs: plain text or one JSON object per line (``GRAPHYARD_LOG_FORMAT=json``).

Every line logged while an activity of a run executes (graphyard's own, LangGraph's, the
graph's nodes', in tasks and threads the activity starts) carries ``run_id``, ``thread_id``
and ``graph_id``: a worker interceptor puts the run in a context variable that a filter on the
handler reads. The filter also masks secrets (``graphyard.redaction``): passwords in URIs,
``key=value`` credentials, and the values of the process's secret-looking variables.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from temporalio import worker

from graphyard.config import Settings
from graphyard.redaction import redact, register_secrets
from graphyard.types import RunRef, run_workflow_id

_run: ContextVar[RunRef | None] = ContextVar("graphyard_run", default=None)
_with_trace_ids = False

_RUN_PREFIX = run_workflow_id("")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(run_context)s"
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextmanager
def run_context(run: RunRef) -> Iterator[None]:
    """Log lines in this block (and the tasks it starts) name the run."""
    token = _run.set(run)
    try:
        yield
    finally:
        _run.reset(token)


def include_trace_ids() -> None:
    """Tracing is on: lines also carry the current trace and span ids."""
    global _with_trace_ids
    _with_trace_ids = True


class RunContextFilter(logging.Filter):
    """Adds the run's ids (and trace ids) to a record and masks secrets in its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = _run.get()
        if run is not None:
            record.run_id = run.run_id
            record.thread_id = run.thread_id
            record.graph_id = run.graph_id
            record.run_context = f" [run_id={run.run_id} thread_id={run.thread_id}]"
        elif run_id := _temporal_run_id(record):
            # The Temporal SDK's own lines about a run's workflow or activity.
            record.run_id = run_id
            record.run_context = f" [run_id={run_id}]"
        else:
            record.run_context = ""
        if _with_trace_ids:
            _add_trace_ids(record)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # Formatters print exc_text when set: the traceback goes out masked too.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        return True


def _temporal_run_id(record: logging.LogRecord) -> str | None:
    for key in ("temporal_activity", "temporal_workflow"):
        info = getattr(record, key, None)
        workflow_id = info.get("workflow_id") if isinstance(info, dict) else None
        if isinstance(workflow_id, str) and workflow_id.startswith(_RUN_PREFIX):
            return workflow_id.removeprefix(_RUN_PREFIX)
    return None


def _add_trace_ids(record: logging.LogRecord) -> None:
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        record.trace_id = format(span.trace_id, "032x")
        record.span_id = format(span.span_id, "016x")


def configure(settings: Settings) -> None:
    """The process's root handler: stderr, text or JSON, with the run filter."""
    if settings.temporal_api_key:
        register_secrets({"GRAPHYARD_TEMPORAL_API_KEY": settings.temporal_api_key})
    root = logging.getLogger()
    root.handlers[:] = [make_handler(settings, sys.stderr)]
    root.setLevel(settings.log_level.upper())
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def make_handler(settings: Settings, stream: TextIO) -> logging.Handler:
    """A handler writing to ``stream`` in the settings' format, with the run filter."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RunContextFilter())
    formatter: logging.Formatter
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        formatter = JsonFormatter(
            _JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "run_context"],
        )
    else:
        formatter = logging.Formatter(_TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


class RunContextInterceptor(worker.Interceptor):
    """Runs each activity whose input names a run (``inp.run``) in that run's log context."""

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _RunContextActivity(next)


class _RunContextActivity(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        run = getattr(input.args[0], "run", None) if input.args else None
        if isinstance(run, RunRef):
            # Not reset: the activity's task ends with the activity, and the SDK's own lines
            # about its completion (in the same task) name the run too.
            _run.set(run)
        return await super().execute_activity(input)
