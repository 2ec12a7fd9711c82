"""Which build a worker is, under Temporal Worker Deployment versioning.

A worker with ``GRAPHYARD_DEPLOYMENT_NAME`` polls as the version ``<deployment>.<build>``:
Temporal sends it the new runs while its build is the deployment's current one (or the ramping
one, for a share), and every task of the runs that started on it, until they end. Without a
deployment name the worker is unversioned, as before: any worker takes any task.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import time
from pathlib import Path

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from graphyard import __version__
from graphyard.config import Settings
from graphyard.graphs import LoadedConfig, add_dependencies
from graphyard.specs import is_file_ref

log = logging.getLogger(__name__)

# A worker that just started polling is known to its deployment a moment later.
_REGISTRATION_TIMEOUT = 60.0
_RETRIED = (
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)


def default_build_id(config: LoadedConfig) -> str:
    """``<graphyard version>-<10 hex digits>``: a hash of graphyard's version and of the
    graph code files ``langgraph.json`` names. Modules those files import are not followed:
    a release sets ``GRAPHYARD_BUILD_ID`` (a tag, an image digest) instead."""
    digest = hashlib.sha256(__version__.encode())
    for graph_id, value in sorted(config.project.graphs.items()):
        spec = value if isinstance(value, str) else value.path
        digest.update(f"\0{graph_id}\0{spec}\0".encode())
        source = _source_file(config, spec)
        if source is not None:
            digest.update(source.read_bytes())
    return f"{__version__}-{digest.hexdigest()[:10]}"


def _source_file(config: LoadedConfig, spec: str) -> Path | None:
    module_ref = spec.rpartition(":")[0]
    if is_file_ref(module_ref):
        path = (config.root / module_ref).resolve()
        return path if path.is_file() else None
    add_dependencies(config)
    try:
        found = importlib.util.find_spec(module_ref)
    except (ImportError, ValueError):
        return None
    origin = found.origin if found is not None else None
    return Path(origin) if origin and Path(origin).is_file() else None


def worker_version(settings: Settings, config: LoadedConfig) -> WorkerDeploymentVersion | None:
    """This worker's version, or ``None`` for an unversioned worker."""
    if not settings.deployment_name:
        return None
    build_id = settings.build_id or default_build_id(config)
    return WorkerDeploymentVersion(settings.deployment_name, build_id)


def deployment_config(version: WorkerDeploymentVersion) -> WorkerDeploymentConfig:
    """Versioned polling; each workflow declares its own behavior (``graphyard.workflows``).

    The default behavior, pinned, is for the workflow-task heartbeats the SDK sends on its own
    while a local step outlasts 80% of the workflow task timeout: they carry no workflow's
    behavior, and without a default a run whose first step runs long stayed unpinned (its
    next task free to go to a newer build) until that step ended (measured on Server 1.32).
    """
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def make_current(
    client: Client,
    namespace: str,
    version: WorkerDeploymentVersion,
    *,
    only_if_none: bool = False,
    timeout: float = _REGISTRATION_TIMEOUT,
) -> str:
    """Make ``version`` its deployment's current build once Temporal knows it (it must have
    polled); with ``only_if_none``, only while the deployment has no current build (its first
    rollout), so a restarted worker of an older build never takes new runs back. Returns the
    build that is current afterwards."""
    service = client.workflow_service
    describe = DescribeWorkerDeploymentRequest(
        namespace=namespace, deployment_name=version.deployment_name
    )
    deadline, pause = time.monotonic() + timeout, 0.2
    while True:
        try:
            token = b""
            if only_if_none:
                described = await service.describe_worker_deployment(describe)
                routing = described.worker_deployment_info.routing_config
                if routing.current_deployment_version.build_id:
                    return routing.current_deployment_version.build_id
                token = described.conflict_token  # refused if another worker got there first
            await service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=namespace,
                    deployment_name=version.deployment_name,
                    build_id=version.build_id,
                    conflict_token=token,
                    identity=f"graphyard worker {version.build_id}",
                )
            )
            return version.build_id
        except RPCError as exc:
            # NOT_FOUND until the deployment (or this build in it) has seen a poll;
            # FAILED_PRECONDITION when the deployment changed since it was described;
            # RESOURCE_EXHAUSTED when it is asked too often (a fleet of workers starting).
            if exc.status not in _RETRIED or time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)
