"""Workflows: deterministic by construction; they import only temporalio.workflow and wire types."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

from graphyard.types import CRON_WORKFLOW, RUN_WORKFLOW, THREAD_WORKFLOW, WEBHOOK_WORKFLOW
from graphyard.workflows.cron import CronWorkflow
from graphyard.workflows.run import RunWorkflow
from graphyard.workflows.thread import ThreadWorkflow
from graphyard.workflows.webhook import WebhookWorkflow

ALL_WORKFLOWS: list[type] = [RunWorkflow, ThreadWorkflow, CronWorkflow, WebhookWorkflow]

# How each workflow moves between builds under Worker Deployment versioning (docs/deploy.md).
# A run finishes on the build it started on, even one waiting days at an interrupt: its graph
# code and workflow code never change under it. A thread's workflow, a cron firing and a
# webhook delivery hold only ids (a delivery reads its run at each attempt), so they move to the
# current build at their next task (their code changes still need ``workflow.patched`` and the
# replay tests). A run started by a thread's workflow starts on the current build, where its
# parent is, and stays there.
VERSIONING_BEHAVIORS: dict[type, tuple[str, VersioningBehavior]] = {
    RunWorkflow: (RUN_WORKFLOW, VersioningBehavior.PINNED),
    ThreadWorkflow: (THREAD_WORKFLOW, VersioningBehavior.AUTO_UPGRADE),
    CronWorkflow: (CRON_WORKFLOW, VersioningBehavior.AUTO_UPGRADE),
    WebhookWorkflow: (WEBHOOK_WORKFLOW, VersioningBehavior.AUTO_UPGRADE),
}


def versioned_workflows() -> list[type]:
    """``ALL_WORKFLOWS`` declaring their versioning behavior, for workers with a deployment.

    The classes themselves declare none: Temporal refuses a workflow task completed with a
    behavior by a worker without a deployment version ("versioning behavior cannot be specified
    without deployment options being set with versioned mode"), so unversioned workers, the
    default, register them as they are. These are same-named subclasses (same name and module:
    the SDK takes the inherited run, signal and query methods as their own), identical in
    execution, so histories replay on either.
    """
    variants: list[type] = []
    for cls in ALL_WORKFLOWS:
        name, behavior = VERSIONING_BEHAVIORS[cls]
        attrs = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        variant = type(cls.__name__, (cls,), {**attrs, "__doc__": cls.__doc__})
        variants.append(workflow.defn(name=name, versioning_behavior=behavior)(variant))
    return variants
