"""What a run is given: its config, context and metadata merged from the assistant, the thread
and the request (reserved keys stripped, as the reference strips them), its stream modes, its
interrupt deadline and its webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from graphyard.api.schemas import RunCreate
from graphyard.errors import Unprocessable
from graphyard.graphs import ProjectConfig
from graphyard.webhooks import WebhookUrlError, check_url

Row = dict[str, Any]

# Keys the server owns: silently dropped from client metadata and configurable (as the reference).
RESERVED_METADATA = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)
RESERVED_CONFIGURABLE_PREFIXES = ("langgraph_auth_user", "__")
# Run (or assistant) configurable key: seconds a run waits at an interrupt before it times out.
INTERRUPT_TIMEOUT_KEY = "interrupt_timeout_seconds"


def interrupt_timeout(value: Any) -> timedelta | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise Unprocessable(f"{INTERRUPT_TIMEOUT_KEY} must be a number of seconds") from None
    if not 0 < seconds <= 10 * 365 * 24 * 3600:
        raise Unprocessable(f"{INTERRUPT_TIMEOUT_KEY} must be positive (at most ten years)")
    return timedelta(seconds=seconds)


def merged_config(
    assistant: Row, thread: Row, body: RunCreate, ids: dict[str, str]
) -> dict[str, Any]:
    request = dict(body.config or {})
    configurable = {
        k: v
        for k, v in (request.pop("configurable", None) or {}).items()
        if not k.startswith(RESERVED_CONFIGURABLE_PREFIXES)
    }
    config: dict[str, Any] = {**assistant["config"], **request}
    config["configurable"] = {
        **(assistant["config"].get("configurable") or {}),
        **(thread["config"].get("configurable") or {}),
        **configurable,
        **ids,
    }
    config["metadata"] = {
        **assistant["metadata"],
        **thread["metadata"],
        **(request.get("metadata") or {}),
        **client_metadata(body),
        "assistant_id": ids["assistant_id"],
        "graph_id": ids["graph_id"],
    }
    return config


def client_metadata(body: RunCreate) -> dict[str, Any]:
    return {k: v for k, v in (body.metadata or {}).items() if k not in RESERVED_METADATA}


def stream_modes(body: RunCreate) -> list[str]:
    if body.stream_mode is None:
        return ["values"]
    return [body.stream_mode] if isinstance(body.stream_mode, str) else list(body.stream_mode)


def check_webhook(webhook: str | None, project: ProjectConfig) -> None:
    """422 for a ``webhook`` (of a run, or a cron's runs) that ``webhooks.url`` in
    langgraph.json refuses (checked before anything is created)."""
    if webhook is None or project.http.disable_webhooks:
        return
    try:
        check_url(webhook, project.webhooks.url)
    except WebhookUrlError as exc:
        raise Unprocessable(str(exc)) from None
