"""Workflows: deterministic by construction; they import only temporalio.workflow and wire types."""

from graphyard.workflows.run import RunWorkflow

ALL_WORKFLOWS = [RunWorkflow]
