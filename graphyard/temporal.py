"""The Temporal client, configured the same way for the API and the worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from graphyard.config import Settings
from graphyard.converter import data_converter
from graphyard.errors import ConfigError
from graphyard.graphs import RetryConfig
from graphyard.telemetry import metrics, tracing
from graphyard.types import SEARCH_ATTRIBUTES, StepPolicy, WebhookPolicy

log = logging.getLogger(__name__)
_KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


async def connect(settings: Settings) -> Client:
    """Connect to the Temporal cluster named by the settings (TLS / API key when given), with
    graphyard's data converter (the payload codec when keys are set), the tracing interceptor
    when tracing is on and the SDK's metrics endpoint when asked."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls,
        api_key=settings.temporal_api_key,
        data_converter=data_converter(settings),
        interceptors=tracing.temporal_interceptors(settings),
        runtime=metrics.temporal_runtime(settings),
    )


async def _registered(client: Client, namespace: str) -> dict[str, int]:
    request = ListSearchAttributesRequest(namespace=namespace)
    response = await client.operator_service.list_search_attributes(request)
    return dict(response.custom_attributes)


async def check_search_attributes(client: Client, settings: Settings) -> None:
    """Fail fast when the namespace lacks graphyard's search attributes: runs started with
    them would be refused, so the API and workers do not start. A server that does not let
    us list them is trusted."""
    if not settings.search_attributes:
        return
    try:
        registered = await _registered(client, settings.temporal_namespace)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        log.warning("cannot list search attributes (%s); assuming they are registered", exc)
        return
    wrong = [
        key.name
        for key in SEARCH_ATTRIBUTES
        if key.name in registered and registered[key.name] != _KEYWORD
    ]
    missing = [key.name for key in SEARCH_ATTRIBUTES if key.name not in registered]
    if wrong:
        raise ConfigError(
            f"search attributes {', '.join(wrong)} of namespace {settings.temporal_namespace!r} "
            "are not of type Keyword; graphyard needs them as Keyword"
        )
    if missing:
        raise ConfigError(
            f"namespace {settings.temporal_namespace!r} on {settings.temporal_address} lacks "
            f"the search attributes {', '.join(missing)}; register them with `graphyard "
            "temporal setup` (or set GRAPHYARD_SEARCH_ATTRIBUTES=false to run untagged)"
        )


async def setup_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register graphyard's search attributes (Keyword) in ``namespace``; the ones it added.
    Idempotent: registered ones are left alone."""
    registered = await _registered(client, namespace)
    wrong = [k.name for k in SEARCH_ATTRIBUTES if registered.get(k.name, _KEYWORD) != _KEYWORD]
    if wrong:
        raise ConfigError(
            f"search attributes {', '.join(wrong)} exist in namespace {namespace!r} with "
            "another type than Keyword; remove them first"
        )
    missing = {k.name: _KEYWORD for k in SEARCH_ATTRIBUTES if k.name not in registered}
    if missing:
        request = AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        try:
            await client.operator_service.add_search_attributes(request)
        except RPCError as exc:
            # Another process registered them meanwhile.
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(missing)


def step_policy(settings: Settings, retry: RetryConfig | None = None) -> StepPolicy:
    """How runs started now will execute their super-steps (recorded in each run's history):
    the settings, overridden by the graph's ``retry`` in langgraph.json."""
    retry = retry or RetryConfig()

    def seconds(value: float | None, default: timedelta) -> timedelta:
        return timedelta(seconds=value) if value is not None else default

    return StepPolicy(
        kind=settings.step_activity,
        start_to_close=seconds(retry.start_to_close_seconds, settings.step_timeout),
        heartbeat=seconds(retry.heartbeat_seconds, settings.step_heartbeat_timeout),
        max_attempts=retry.max_attempts or settings.step_max_attempts,
        initial_interval=seconds(
            retry.initial_interval_seconds, settings.step_initial_retry_interval
        ),
        backoff=retry.backoff or settings.step_backoff_coefficient,
    )


def webhook_policy(settings: Settings) -> WebhookPolicy:
    """How runs started now will deliver their webhook (recorded in each run's history)."""
    return WebhookPolicy(
        max_attempts=settings.webhook_max_attempts,
        initial_interval=settings.webhook_initial_retry_interval,
        backoff=settings.webhook_backoff_coefficient,
        maximum_interval=settings.webhook_max_retry_interval,
        timeout=settings.webhook_timeout,
    )
