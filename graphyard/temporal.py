"""The Temporal client, configured the same way for the API and the worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from graphyard.config import Settings
from graphyard.graphs import RetryConfig
from graphyard.types import StepPolicy, WebhookPolicy


async def connect(settings: Settings) -> Client:
    """Connect to the Temporal cluster named by the settings (TLS / API key when given)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls,
        api_key=settings.temporal_api_key,
        data_converter=pydantic_data_converter,
    )


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
