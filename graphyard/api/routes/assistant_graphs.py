"""An assistant's graph: its drawing, its JSON schemas and its subgraphs' schemas, built from
the graph compiled with the assistant's config."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import APIRouter
from langchain_core.runnables import RunnableConfig
from langchain_core.utils.pydantic import create_model
from langgraph.pregel import Pregel
from pydantic import TypeAdapter

from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps, check_uuid
from graphyard.api.models import GraphDrawing, GraphSchemas, returns
from graphyard.api.routes.assistants import check_graph, readable
from graphyard.api.routing import BodyRoute
from graphyard.errors import Unprocessable
from graphyard.graphs import default_assistant_id
from graphyard.runs.backends import Services
from graphyard.storage.rows import AssistantRow

router = APIRouter(prefix="/assistants", tags=["assistants"], route_class=BodyRoute)
log = logging.getLogger(__name__)

AnyPregel = Pregel[Any, Any, Any, Any]
# Configurable keys the server fills in itself: never part of a graph's config schema.
EXCLUDED_CONFIG_SCHEMA = (
    "__pregel_checkpointer",
    "__pregel_store",
    "checkpoint_id",
    "checkpoint_ns",
    "thread_id",
)


@asynccontextmanager
async def compiled_graph(services: Services, row: AssistantRow) -> AsyncIterator[AnyPregel]:
    """The assistant's compiled graph, built with the assistant's config (a factory's context
    manager is exited after the route's use)."""
    check_graph(services, row["graph_id"])  # langgraph.json may have changed since
    config = dict(row["config"])
    config["configurable"] = dict(config.get("configurable") or {})
    graph = services.graphs.get(row["graph_id"])
    async with graph.resolve(cast(RunnableConfig, config), store=services.store) as compiled:
        yield compiled


def _parse_xray(value: str | None) -> bool | int:
    if not value or value in ("false", "False"):
        return False
    if value in ("true", "True"):
        return True
    try:
        depth = int(value)
    except ValueError:
        raise Unprocessable("Invalid xray value") from None
    if depth <= 0:
        raise Unprocessable("Invalid xray value")
    return depth


@router.get("/{assistant_id}/graph", **returns(GraphDrawing))
async def get_graph(
    assistant_id: str, services: Deps, auth: AuthDep, xray: str | None = None
) -> dict[str, Any]:
    """The graph's drawing. A graph id stands for its system assistant here."""
    if assistant_id in services.graphs:
        assistant_id = default_assistant_id(assistant_id)
    row = await readable(services, auth, check_uuid(assistant_id, "assistant"))
    depth = _parse_xray(xray)
    async with compiled_graph(services, row) as graph:
        try:
            drawing: dict[str, Any] = (await graph.aget_graph(xray=depth)).to_json()
        except NotImplementedError:
            raise Unprocessable("The graph does not support visualization") from None
    for node in drawing.get("nodes", []):
        if isinstance(node.get("data"), dict):
            node["data"].pop("id", None)
    return drawing


@router.get("/{assistant_id}/schemas", **returns(GraphSchemas))
async def get_schemas(assistant_id: str, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """The JSON schemas of the assistant's graph (input, output, state, config and context),
    built with the assistant's config. A schema that cannot be built is ``null``."""
    row = await readable(services, auth, check_uuid(assistant_id, "assistant"))
    async with compiled_graph(services, row) as graph:
        return {"graph_id": row["graph_id"], **graph_schemas(graph)}


@router.get("/{assistant_id}/subgraphs", **returns(dict[str, GraphSchemas]))
@router.get("/{assistant_id}/subgraphs/{namespace}", **returns(dict[str, GraphSchemas]))
async def get_subgraphs(
    assistant_id: str,
    services: Deps,
    auth: AuthDep,
    namespace: str | None = None,
    recurse: bool = False,
) -> dict[str, Any]:
    """The JSON schemas of the graph's subgraphs, keyed by namespace. ``recurse=true`` includes
    subgraphs of subgraphs; the ``namespace`` path segment keeps only that one."""
    row = await readable(services, auth, check_uuid(assistant_id, "assistant"))
    async with compiled_graph(services, row) as graph:
        try:
            return {
                ns: graph_schemas(sub)
                async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
            }
        except NotImplementedError:
            raise Unprocessable("The graph does not support visualization") from None


def graph_schemas(graph: Any) -> dict[str, Any]:
    """A (sub)graph's JSON schemas; each one that cannot be built is ``null``."""
    builders: dict[str, Callable[[], Any]] = {
        "input_schema": lambda: graph.get_input_jsonschema(),
        "output_schema": lambda: graph.get_output_jsonschema(),
        "state_schema": lambda: _state_jsonschema(graph),
        "config_schema": lambda: _configurable_jsonschema(graph),
        "context_schema": lambda: graph.get_context_jsonschema(),
    }
    schemas: dict[str, Any] = {}
    for key, build in builders.items():
        try:
            schemas[key] = build()
        except Exception as exc:
            name = getattr(graph, "name", "?")
            log.warning("no %s for graph %s: %s: %s", key, name, type(exc).__name__, exc)
            schemas[key] = None
    return schemas


def _state_jsonschema(graph: AnyPregel) -> dict[str, Any]:
    """The state schema from the graph's output channels (as the reference server builds it):
    a channel whose type has no JSON schema is typed ``Any``."""
    fields: dict[str, Any] = {}
    for key in graph.stream_channels_list:
        update_type = getattr(graph.channels[key], "UpdateType", Any)
        try:
            create_model(key, __root__=(update_type, None)).model_json_schema()
            fields[key] = (update_type, None)
        except Exception:
            fields[key] = (Any, None)
    schema: dict[str, Any] = create_model(graph.get_name("State"), **fields).model_json_schema()
    return schema


def _configurable_jsonschema(graph: AnyPregel) -> dict[str, Any]:
    """The ``configurable`` part of the config schema, without the server's own keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # config_schema is deprecated in LangGraph 1.x
        config_schema = graph.config_schema()
    fields = getattr(config_schema, "model_fields", None) or {}
    if "configurable" not in fields:
        return {}
    annotation: Any = fields["configurable"].annotation
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    for key in EXCLUDED_CONFIG_SCHEMA:
        schema.get("properties", {}).pop(key, None)
    config_type = getattr(graph, "config_type", None)
    if config_type is not None and hasattr(config_type, "__name__"):
        schema["title"] = config_type.__name__
    return schema
