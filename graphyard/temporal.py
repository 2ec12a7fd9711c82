"""The Temporal client, configured the same way for the API and the worker."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from graphyard.config import Settings
from graphyard.types import StepPolicy


async def connect(settings: Settings) -> Client:
    """Connect to the Temporal cluster named by the settings (TLS / API key when given)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls,
        api_key=settings.temporal_api_key,
        data_converter=pydantic_data_converter,
    )


def step_policy(settings: Settings) -> StepPolicy:
    """How runs started now will execute their super-steps (recorded in each run's history)."""
    return StepPolicy(
        kind=settings.step_activity,
        start_to_close=settings.step_timeout,
        heartbeat=settings.step_heartbeat_timeout,
        max_attempts=settings.step_max_attempts,
        initial_interval=settings.step_initial_retry_interval,
        backoff=settings.step_backoff_coefficient,
    )
