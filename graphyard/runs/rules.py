"""What a run is given: its config, context and metadata merged from the assistant, the thread
and the request (reserved keys stripped, as the reference strips them), its stream modes, its
interrupt deadline and its webhook."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from graphyard.errors import Unprocessable
from graphyard.graphs import ProjectConfig
from graphyard.runs.request import RunCreate
from graphyard.storage.rows import AssistantRow, ThreadRow
from graphyard.webhooks import WebhookUrlError, check_url

# Keys the server owns: silently dropped from client metadata and configurable (as the reference).
RESERVED_METADATA = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)
# ``langgraph_auth_*`` is the authenticated user's: only auth sets it (``caller`` below).
RESERVED_CONFIGURABLE_PREFIXES = ("langgraph_auth_", "__")
_AUTH = ("langgraph_auth_",)
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


def _unreserved(
    configurable: dict[str, Any] | None, reserved: tuple[str, ...] = RESERVED_CONFIGURABLE_PREFIXES
) -> dict[str, Any]:
    return {k: v for k, v in (configurable or {}).items() if not k.startswith(reserved)}


def merged_config(
    assistant: AssistantRow,
    thread: ThreadRow,
    body: RunCreate,
    ids: dict[str, str],
    caller: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``caller``: the ``langgraph_auth_*`` keys of the authenticated user (none without
    auth); whatever the request, assistant or thread said under those names is dropped.
    ``headers``: request headers ``http.configurable_headers`` copies (over the body's)."""
    request = dict(body.config or {})
    configurable = _unreserved(request.pop("configurable", None))
    config: dict[str, Any] = {**assistant["config"], **request}
    config["configurable"] = {
        **_unreserved(assistant["config"].get("configurable"), _AUTH),
        # A thread's config is its last run's: that run's caller is not this one.
        **_unreserved(thread["config"].get("configurable"), _AUTH),
        **configurable,
        # The reference also hands the context's keys to graphs that read configurable.
        **_unreserved(body.context),
        **(headers or {}),
        **(caller or {}),
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


def checkpoint(body: RunCreate) -> dict[str, Any] | None:
    """The checkpoint the run starts from (``checkpoint``, or ``checkpoint_id`` alone); 422 for
    an id that is no UUID, as the reference answers (LangGraph's ids are UUIDs)."""
    named = body.checkpoint or (
        {"checkpoint_id": body.checkpoint_id} if body.checkpoint_id else None
    )
    checkpoint_id = (named or {}).get("checkpoint_id")
    if checkpoint_id is not None:
        try:
            uuid.UUID(str(checkpoint_id))
        except ValueError:
            raise Unprocessable(
                f"Invalid checkpoint ID {checkpoint_id!r}: expected a UUID"
            ) from None
    return named
