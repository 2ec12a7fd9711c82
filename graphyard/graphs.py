"""``langgraph.json`` loading and the graph registry.

Graphs load as the reference server loads them: ``./file.py:attr`` or ``package.module:attr``,
where ``attr`` is a compiled graph, a ``StateGraph`` (compiled here) or a factory
(graph_factories.py). Persistence is attached per use with ``graph.copy``, never baked in.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphyard import graph_factories
from graphyard.errors import ConfigError, GraphLoadFailed
from graphyard.graph_factories import Access
from graphyard.http_config import HttpConfig
from graphyard.specs import import_target
from graphyard.store import StoreConfig
from graphyard.webhooks import WebhooksConfig

# The reference server's namespace for system assistant ids: uuid5(NS, graph_id).
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def default_assistant_id(graph_id: str) -> str:
    """The deterministic id of a graph's system assistant, as the reference computes it."""
    return str(uuid.uuid5(ASSISTANT_NAMESPACE, graph_id))


class RetryConfig(BaseModel):
    """``graphs.<id>.retry``: how this graph's super-steps are retried (unset fields keep the
    settings' values). ``non_retryable`` names exception classes (a subclass counts) that
    fail the run at once."""

    model_config = ConfigDict(extra="forbid")
    initial_interval_seconds: float | None = Field(default=None, gt=0)
    backoff: float | None = Field(default=None, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    start_to_close_seconds: float | None = Field(default=None, gt=0)
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    non_retryable: list[str] = Field(default_factory=list)


class GraphEntry(BaseModel):
    """The object form of a ``graphs`` value."""

    model_config = ConfigDict(extra="allow")
    path: str
    description: str | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)


class ThreadTTLConfig(BaseModel):
    """``checkpointer.ttl``: threads expire ``default_ttl`` minutes after their last update."""

    model_config = ConfigDict(extra="allow")
    strategy: Literal["delete", "keep_latest"] = "delete"
    default_ttl: float | None = Field(default=None, gt=0)
    sweep_interval_minutes: float = Field(default=5, gt=0)
    sweep_limit: int = Field(default=1000, ge=1)


class CheckpointerConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    ttl: ThreadTTLConfig = Field(default_factory=ThreadTTLConfig)


class AuthConfig(BaseModel):
    """``auth``: ``path`` names a ``langgraph_sdk.Auth`` object (``./auth.py:auth``);
    ``openapi`` (the OpenAPI document's security) and ``cache`` (authentications kept a while)
    are read by ``graphyard.api.auth``; ``disable_studio_auth`` is kept but not read."""

    model_config = ConfigDict(extra="allow")
    path: str | None = None


class ProjectConfig(BaseModel):
    """The parts of ``langgraph.json`` graphyard reads; unknown keys are kept, not rejected."""

    model_config = ConfigDict(extra="allow")
    graphs: dict[str, str | GraphEntry] = Field(min_length=1)
    env: dict[str, str] | str | None = None
    dependencies: list[str] = Field(default_factory=list)
    checkpointer: CheckpointerConfig = Field(default_factory=CheckpointerConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    auth: AuthConfig | None = None
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated ``langgraph.json`` and the folder its relative paths start from."""

    path: Path
    project: ProjectConfig

    @property
    def root(self) -> Path:
        return self.path.parent


def load_config(path: Path) -> LoadedConfig:
    """Read and validate ``langgraph.json``; errors name the file, the key and the cause."""
    path = path.resolve()
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (pass --config PATH)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        project = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"key {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    return LoadedConfig(path=path, project=project)


def add_dependencies(config: LoadedConfig) -> None:
    """Put local ``dependencies`` (and the config's folder) on the import path."""
    for dep in [*config.project.dependencies, "."]:
        candidate = (config.root / dep).resolve()
        if candidate.is_dir() and str(candidate) not in sys.path:
            sys.path.insert(0, str(candidate))


def apply_env(config: LoadedConfig) -> dict[str, str]:
    """Apply ``env`` (a mapping or a .env file) here. Workers only: secrets stay with them.
    Returns the variables it named (for log redaction)."""
    env = config.project.env
    if env is None:
        return {}
    if isinstance(env, str):
        env_path = (config.root / env).resolve()
        if not env_path.is_file():
            raise ConfigError(f"{config.path}: key env: file {env_path} not found")
        values = {k: v for k, v in dotenv_values(env_path).items() if v is not None}
    else:
        values = env
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return dict(values)


GraphFactory = Callable[..., Any]


@dataclass
class Graph:
    """One registered graph: a compiled graph, or a factory producing one per use."""

    graph_id: str
    spec: str
    description: str | None
    compiled: Pregel[Any, Any, Any, Any] | None
    factory: GraphFactory | None
    retry: RetryConfig = field(default_factory=RetryConfig)

    @property
    def name(self) -> str:
        """The system assistant's name: the graph's own name unless it is the default one."""
        name = getattr(self.compiled, "name", None)
        return name if name and name != "LangGraph" else self.graph_id

    @contextlib.asynccontextmanager
    async def resolve(
        self,
        config: RunnableConfig,
        access: Access = "assistants.read",
        store: BaseStore | None = None,
        context: Any = None,
    ) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
        """The compiled graph for ``config``: a factory is called with it and a runtime for
        ``access`` (graph_factories.py), and a context manager it returns is exited when the
        use ends."""
        if self.compiled is not None:
            yield self.compiled
            return
        assert self.factory is not None
        where = f"graph {self.graph_id!r} ({self.spec})"
        user = (config.get("configurable") or {}).get("langgraph_auth_user")
        loading = True
        try:
            kwargs = graph_factories.arguments(self.factory, where)(
                config, graph_factories.runtime(access, store, user, context)
            )
            async with graph_factories.produced(self.factory(**kwargs)) as made:
                graph = _as_pregel(made, self.graph_id, self.spec)
                loading = False
                yield graph
        except Exception as exc:
            if not loading:
                raise
            # A signature or a value that is no graph fails the same way on every attempt.
            raise GraphLoadFailed(
                f"{where} failed to load: {type(exc).__name__}: {exc}",
                retryable=not isinstance(exc, ConfigError | TypeError),
            ) from exc

    @contextlib.asynccontextmanager
    async def bind(
        self,
        config: RunnableConfig,
        checkpointer: BaseCheckpointSaver[Any],
        store: BaseStore | None = None,
        access: Access = "threads.read",
        context: Any = None,
    ) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
        """The graph with graphyard's durable persistence attached, for the use's length."""
        async with self.resolve(config, access, store, context) as graph:
            yield graph.copy(update={"checkpointer": checkpointer, "store": store})


def _as_pregel(obj: Any, graph_id: str, spec: str) -> Pregel[Any, Any, Any, Any]:
    if isinstance(obj, Pregel):
        return obj
    if isinstance(obj, StateGraph):
        return obj.compile()
    raise ConfigError(
        f"graph {graph_id!r} ({spec}): expected a compiled graph, a StateGraph or a factory "
        f"returning one, got {type(obj).__name__}"
    )


class GraphRegistry:
    """Every graph named in ``langgraph.json``, imported once per process."""

    def __init__(self, config: LoadedConfig) -> None:
        self.config = config
        add_dependencies(config)
        self._graphs: dict[str, Graph] = {}
        for graph_id, value in config.project.graphs.items():
            spec = value if isinstance(value, str) else value.path
            description = None if isinstance(value, str) else value.description
            retry = RetryConfig() if isinstance(value, str) else value.retry
            target = import_target(config.path, f"graphs.{graph_id}", spec)
            if isinstance(target, Pregel | StateGraph):
                compiled = _as_pregel(target, graph_id, spec)
                graph = Graph(graph_id, spec, description, compiled, None, retry)
            elif callable(target):
                graph = Graph(graph_id, spec, description, None, target, retry)
            else:
                raise ConfigError(
                    f"{config.path}: key graphs.{graph_id}: {spec!r} is a "
                    f"{type(target).__name__}, not a graph or a factory"
                )
            self._graphs[graph_id] = graph

    @classmethod
    def from_path(cls, path: Path) -> GraphRegistry:
        """Load ``langgraph.json`` at ``path`` and import its graphs."""
        return cls(load_config(path))

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._graphs

    def __iter__(self) -> Any:
        return iter(self._graphs.values())

    @property
    def graph_ids(self) -> list[str]:
        return list(self._graphs)

    def get(self, graph_id: str) -> Graph:
        """The graph ``graph_id``; ``KeyError`` if it is not registered."""
        return self._graphs[graph_id]
