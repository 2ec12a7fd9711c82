"""A run's webhook: one signed ``POST`` per attempt, each recorded on the run; the workflow's
retry policy spaces and caps the attempts, and records the failure when they run out.

The payload is the reference's (§2.14): the run, its status, ``run_started_at``,
``run_ended_at``, ``webhook_sent_at``, ``values`` and, for a failed run, ``error``.
Delivery is at least once: a receiver that answered 2xx is never sent the payload again,
unless its answer could not be recorded (the worker died in between); ``run_id`` tells
duplicates apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from graphyard import __version__
from graphyard.activities.context import WorkerContext
from graphyard.serde import dumps
from graphyard.storage import runs as run_rows
from graphyard.storage.rows import RunRow
from graphyard.types import (
    WEBHOOK_ACTIVITY,
    WEBHOOK_FAILED_ACTIVITY,
    WebhookFailure,
    WebhookInput,
)
from graphyard.webhooks import (
    DEFAULT_PORTS,
    SIGNATURE_HEADER,
    WebhooksConfig,
    WebhookUrlError,
    check_url,
    is_loopback_ip,
    signature,
)


def payload(
    row: RunRow, sent_at: datetime, allowed_fields: list[str] | None = None
) -> dict[str, Any]:
    """What the receiver gets for the ended run in ``row``."""
    body: dict[str, Any] = {
        "run_id": str(row["run_id"]),
        "thread_id": str(row["thread_id"]),
        "assistant_id": str(row["assistant_id"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "status": row["status"],
        "metadata": row["metadata"],
        "kwargs": row["kwargs"],
        "multitask_strategy": row["multitask_strategy"],
        "run_started_at": row["started_at"],
        "run_ended_at": row["ended_at"],
        "webhook_sent_at": sent_at,
        "values": row["end_values"],
    }
    if row["error"] is not None:
        body["error"] = row["error"]
    if allowed_fields is not None:
        body = {k: v for k, v in body.items() if k in allowed_fields}
    return body


async def _refuse_loopback(host: str, port: int) -> None:
    """What the host resolves to must not be this machine either (a name can point anywhere;
    the check at run creation saw only the name)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if is_loopback_ip(address):
            raise WebhookUrlError(
                f"Webhook URL host {host!r} resolves to the loopback address {address}; "
                "loopback webhooks are refused unless langgraph.json sets "
                "webhooks.url.disable_loopback to false."
            )


class WebhookActivities:
    """Webhook delivery, bound to a worker's shared resources and its signing secret."""

    def __init__(self, ctx: WorkerContext, secret: SecretStr | None = None) -> None:
        self.ctx = ctx
        self.secret = secret

    @property
    def config(self) -> WebhooksConfig:
        return self.ctx.graphs.config.project.webhooks

    @activity.defn(name=WEBHOOK_ACTIVITY)
    async def deliver(self, inp: WebhookInput) -> None:
        """POST the ended run's payload to its ``webhook`` once; raise (to be retried) unless
        the receiver answered 2xx."""
        async with self.ctx.pool.connection() as conn:
            row = await run_rows.get(conn, inp.run.run_id)
        if row is None or not row["kwargs"].get("webhook"):
            return  # deleted since it ended: nothing to report, nowhere to record it
        if (row["webhook_delivery"] or {}).get("status") == "delivered":
            return  # an earlier attempt delivered it and only its report failed
        attempt = activity.info().attempt
        sent_at = datetime.now(UTC)
        record: dict[str, Any] = {"attempts": attempt, "status_code": None, "sent_at": sent_at}
        try:
            url = row["kwargs"]["webhook"]
            await self._check(url)
            headers = self._headers()
        except (WebhookUrlError, KeyError) as exc:
            # A rule or the worker's environment refuses it: no retry can change that.
            message = exc.args[0] if exc.args else str(exc)
            await self._record(row, {**record, "status": "retrying", "last_error": message})
            raise ApplicationError(message, type="WebhookRefused", non_retryable=True) from None
        except OSError as exc:  # the host name did not resolve: it may later
            message = f"cannot resolve the webhook host: {exc}"
            await self._record(row, {**record, "status": "retrying", "last_error": message})
            raise ApplicationError(message, type="WebhookUnreachable") from None
        body = dumps(payload(row, sent_at, self.config.allowed_fields))
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(
                self.secret.get_secret_value(), int(time.time()), body
            )
        try:
            async with httpx.AsyncClient(timeout=inp.timeout.total_seconds()) as http:
                response = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            message = f"{type(exc).__name__}: {exc}".rstrip(": ")
            await self._record(row, {**record, "status": "retrying", "last_error": message})
            raise ApplicationError(
                f"webhook not delivered: {message}", type="WebhookUnreachable"
            ) from None
        record["status_code"] = response.status_code
        if not response.is_success:
            message = f"the receiver answered HTTP {response.status_code}"
            await self._record(row, {**record, "status": "retrying", "last_error": message})
            raise ApplicationError(f"webhook not delivered: {message}", type="WebhookRejected")
        await self._record(row, {**record, "status": "delivered", "last_error": None})

    @activity.defn(name=WEBHOOK_FAILED_ACTIVITY)
    async def webhook_failed(self, inp: WebhookFailure) -> None:
        """Record on the run that its webhook was not delivered (its status stays)."""
        async with self.ctx.pool.connection() as conn:
            await run_rows.fail_webhook(conn, inp.run.run_id, inp.error, inp.attempts)

    async def _check(self, url: str) -> None:
        """Check the URL again: langgraph.json may have changed since the run was created,
        and the host name may resolve to this machine."""
        rules = self.config.url
        parts = check_url(url, rules)
        if rules.disable_loopback and parts.hostname:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
            await _refuse_loopback(parts.hostname, port)

    def _headers(self) -> httpx.Headers:
        """langgraph.json's ``webhooks.headers`` (from this worker's environment), then ours."""
        headers = httpx.Headers(self.config.resolved_headers())
        headers["Content-Type"] = "application/json"
        headers.setdefault("User-Agent", f"graphyard/{__version__}")
        return headers

    async def _record(self, row: RunRow, delivery: dict[str, Any]) -> None:
        async with self.ctx.pool.connection() as conn:
            await run_rows.record_webhook(conn, str(row["run_id"]), delivery)
