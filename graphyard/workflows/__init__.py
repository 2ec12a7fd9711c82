"""Workflows: deterministic by construction; they import only temporalio.workflow and wire types."""

from graphyard.workflows.cron import CronWorkflow
from graphyard.workflows.run import RunWorkflow
from graphyard.workflows.thread import ThreadWorkflow
from graphyard.workflows.webhook import WebhookWorkflow

ALL_WORKFLOWS = [RunWorkflow, ThreadWorkflow, CronWorkflow, WebhookWorkflow]
