"""``graphyard deploy status | set-current BUILD | ramp BUILD PCT | rollback``.

Thin wrappers over Temporal's Worker Deployment RPCs, with what an operator needs next to
each build: where new runs go (current, ramping with its share), whether it still holds runs
(draining, drained, inactive), how many open runs are pinned to it, and whether any worker
still polls for it. ``rollback`` stops a ramp in progress, or else makes the previous current
build current again (docs/deploy.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.enums.v1 import TaskQueueType, WorkerDeploymentVersionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from graphyard.errors import DeployError
from graphyard.types import RUN_WORKFLOW

_STATES = {
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "current",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "ramping",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "draining",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "drained",
}
_ORDER = ["current", "ramping", "draining", "inactive", "drained"]
# As the API's /ok: a live worker re-polls at least every minute.
_POLLER_FRESHNESS = timedelta(seconds=90)
_IDENTITY = "graphyard deploy"


def require_deployment(deployment: str) -> None:
    if not deployment:
        raise DeployError("no deployment named: pass --deployment or set GRAPHYARD_DEPLOYMENT_NAME")


@dataclass
class Build:
    build_id: str
    state: str  # current | ramping | draining | drained | inactive
    ramp: float | None  # the ramping build's share of new runs, in percent
    open_runs: int  # runs pinned to it that have not ended
    workers: int  # workers seen polling for it in the last 90 s
    since: datetime | None  # when it took its state (created, for inactive)
    last_current: datetime | None  # when it last became current (None: never was)


@dataclass
class Deployment:
    name: str
    namespace: str
    task_queue: str
    builds: list[Build]
    unversioned_runs: int  # open runs started before versioning, on this task queue


class Deployer:
    """The commands, against one deployment in one namespace."""

    def __init__(self, client: Client, namespace: str, deployment: str, task_queue: str) -> None:
        require_deployment(deployment)
        self.client, self.namespace = client, namespace
        self.deployment, self.task_queue = deployment, task_queue

    async def status(self) -> Deployment:
        info, _ = await self._describe()
        workers = await self._workers()
        builds = []
        ramping = info.routing_config.ramping_version_percentage
        for summary in info.version_summaries:
            build_id = summary.deployment_version.build_id
            state = _STATES.get(summary.status, "inactive")
            since = {
                "current": summary.current_since_time,
                "ramping": summary.ramping_since_time,
                "draining": summary.last_deactivation_time,
                "drained": summary.last_deactivation_time,
            }.get(state, summary.create_time)
            builds.append(
                Build(
                    build_id=build_id,
                    state=state,
                    ramp=ramping if state == "ramping" else None,
                    open_runs=await self.open_runs(build_id),
                    workers=workers.get(build_id, 0),
                    since=_time(since),
                    last_current=_time(summary.last_current_time),
                )
            )
        builds.sort(key=lambda b: (_ORDER.index(b.state), -(b.since or _EPOCH).timestamp()))
        unversioned = await self._count(
            f'TaskQueue = "{self.task_queue}" AND TemporalWorkerDeploymentVersion IS NULL'
        )
        return Deployment(self.deployment, self.namespace, self.task_queue, builds, unversioned)

    async def set_current(self, build_id: str) -> str:
        """Make ``build_id`` current: new runs (and threads' next tasks) go to it; runs pinned
        to the previous current build finish there."""
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=self.namespace,
            deployment_name=self.deployment,
            build_id=build_id,
            identity=_IDENTITY,
        )
        try:
            response = await self.client.workflow_service.set_worker_deployment_current_version(
                request
            )
        except RPCError as exc:
            raise self._error(exc, build_id) from exc
        previous = response.previous_deployment_version.build_id
        return self._switched(build_id, previous, await self.open_runs(previous))

    async def ramp(self, build_id: str, percent: float) -> str:
        """Send ``percent`` % of new runs to ``build_id``, the rest to the current build."""
        if not 0 <= percent <= 100:
            raise DeployError(f"ramp percentage {percent} must be between 0 and 100")
        request = SetWorkerDeploymentRampingVersionRequest(
            namespace=self.namespace,
            deployment_name=self.deployment,
            build_id=build_id,
            percentage=percent,
            identity=_IDENTITY,
        )
        try:
            await self.client.workflow_service.set_worker_deployment_ramping_version(request)
        except RPCError as exc:
            raise self._error(exc, build_id) from exc
        info, _ = await self._describe()
        current = info.routing_config.current_deployment_version.build_id or "unversioned workers"
        return f"ramping {build_id}: {percent:g}% of new runs go to it, the rest to {current}"

    async def rollback(self) -> str:
        """A ramp in progress: stop it (every new run goes to the current build). Otherwise:
        make the build that was current before the current one current again (a second
        rollback goes forward again, as ``kubectl rollout undo``). Refused if the deployment
        changes meanwhile."""
        info, token = await self._describe()
        routing = info.routing_config
        if routing.ramping_deployment_version.build_id:
            return await self._stop_ramp(info, token)
        current = routing.current_deployment_version.build_id
        candidates = [
            s
            for s in info.version_summaries
            if s.deployment_version.build_id != current and s.HasField("last_current_time")
        ]
        if not candidates:
            raise DeployError(
                f"nothing to roll back to: no build of {self.deployment} was current before "
                f"{current or '(none)'}"
            )
        target = max(candidates, key=lambda s: s.last_current_time.ToDatetime())
        build_id = target.deployment_version.build_id
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=self.namespace,
            deployment_name=self.deployment,
            build_id=build_id,
            conflict_token=token,
            identity=_IDENTITY,
        )
        try:
            await self.client.workflow_service.set_worker_deployment_current_version(request)
        except RPCError as exc:
            raise self._error(exc, build_id) from exc
        return "rolled back: " + self._switched(build_id, current, await self.open_runs(current))

    async def _stop_ramp(self, info: WorkerDeploymentInfo, token: bytes) -> str:
        routing = info.routing_config
        ramping = routing.ramping_deployment_version.build_id
        request = SetWorkerDeploymentRampingVersionRequest(
            namespace=self.namespace,
            deployment_name=self.deployment,
            build_id="",  # no ramping build
            percentage=0,
            conflict_token=token,
            identity=_IDENTITY,
        )
        try:
            await self.client.workflow_service.set_worker_deployment_ramping_version(request)
        except RPCError as exc:
            raise self._error(exc, ramping) from exc
        current = routing.current_deployment_version.build_id or "unversioned workers"
        return (
            f"rolled back the ramp of {ramping} ({routing.ramping_version_percentage:g}%): new "
            f"runs all go to {current}; the {await self.open_runs(ramping)} open runs that "
            f"started on {ramping} finish there"
        )

    async def open_runs(self, build_id: str) -> int:
        """Runs pinned to ``build_id`` that have not ended (visibility: near real time)."""
        if not build_id:
            return 0
        return await self._count(
            f'TemporalWorkerDeploymentVersion = "{self.deployment}:{build_id}"'
        )

    async def _count(self, where: str) -> int:
        query = f'WorkflowType = "{RUN_WORKFLOW}" AND ExecutionStatus = "Running" AND {where}'
        response = await self.client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=self.namespace, query=query)
        )
        return int(response.count)

    async def _describe(self) -> tuple[WorkerDeploymentInfo, bytes]:
        request = DescribeWorkerDeploymentRequest(
            namespace=self.namespace, deployment_name=self.deployment
        )
        try:
            response = await self.client.workflow_service.describe_worker_deployment(request)
        except RPCError as exc:
            raise self._error(exc, None) from exc
        return response.worker_deployment_info, response.conflict_token

    async def _workers(self) -> dict[str, int]:
        """Workers per build, from the task queue's recent pollers."""
        response = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.namespace,
                task_queue=TaskQueue(name=self.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        cutoff = datetime.now(UTC) - _POLLER_FRESHNESS
        seen: dict[str, set[str]] = {}
        for poller in response.pollers:
            options = poller.deployment_options
            if options.deployment_name != self.deployment:
                continue
            if poller.last_access_time.ToDatetime(UTC) >= cutoff:
                seen.setdefault(options.build_id, set()).add(poller.identity)
        return {build_id: len(identities) for build_id, identities in seen.items()}

    def _switched(self, build_id: str, previous: str, pinned: int) -> str:
        if not previous or previous == build_id:
            return f"current build of {self.deployment}: {build_id}; new runs go to it"
        return (
            f"current build of {self.deployment}: {build_id} (was {previous}); new runs go to "
            f"{build_id}, the {pinned} open runs of {previous} finish on it: keep its workers "
            f"until `graphyard deploy status` shows it drained"
        )

    def _error(self, exc: RPCError, build_id: str | None) -> DeployError:
        where = f"deployment {self.deployment!r} in namespace {self.namespace!r}"
        if exc.status == RPCStatusCode.NOT_FOUND:
            if build_id:
                return DeployError(
                    f"build {build_id!r} is not known to {where}: start its workers "
                    f"(GRAPHYARD_DEPLOYMENT_NAME={self.deployment}, GRAPHYARD_BUILD_ID="
                    f"{build_id}) and run this again once they poll ({exc.message})"
                )
            return DeployError(
                f"no {where}: no worker with GRAPHYARD_DEPLOYMENT_NAME={self.deployment} "
                f"has polled yet ({exc.message})"
            )
        if exc.status == RPCStatusCode.FAILED_PRECONDITION and "conflict" in exc.message:
            return DeployError(
                f"{where} changed meanwhile: check `graphyard deploy status` and run this again"
            )
        return DeployError(f"{where}: {exc.message}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(UTC) if stamp.seconds or stamp.nanos else None


def render(deployment: Deployment) -> str:
    """``graphyard deploy status``: one line per build, then what needs attention."""
    lines = [
        f"Worker Deployment {deployment.name} "
        f"(namespace {deployment.namespace}, task queue {deployment.task_queue})",
        f"{'BUILD':<24} {'STATE':<13} {'OPEN RUNS':>9} {'WORKERS':>7}  SINCE",
    ]
    for build in deployment.builds:
        state = f"ramping {build.ramp:g}%" if build.ramp is not None else build.state
        since = build.since.strftime("%Y-%m-%d %H:%M:%SZ") if build.since else "-"
        lines.append(
            f"{build.build_id:<24} {state:<13} {build.open_runs:>9} {build.workers:>7}  {since}"
        )
    if deployment.unversioned_runs:
        lines.append(
            f"{deployment.unversioned_runs} open runs started before versioning: they move to "
            "the current build at their next task"
        )
    for build in deployment.builds:
        if build.open_runs and not build.workers:
            lines.append(
                f"! {build.build_id} holds {build.open_runs} open runs but no worker polls for "
                "it: they wait until its workers are back"
            )
        elif build.state == "drained" and build.workers:
            lines.append(f"{build.build_id} is drained: its workers can be stopped")
    return "\n".join(lines)
