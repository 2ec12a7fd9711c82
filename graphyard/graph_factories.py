"""Graph factories, called as the reference server calls them.

A factory takes no argument, the config, the ``ServerRuntime`` (``langgraph_sdk.runtime``), or
both (by keyword, in either order): a parameter is the runtime when its annotation says so
(``ServerRuntime``, ``ServerRuntime[Ctx]``, ``Annotated[ServerRuntime, ...]``), otherwise the
config. It returns a graph, an awaitable of one, or a context manager (sync or async) that
yields one and is exited after each use.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, cast, get_args, get_origin

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph_sdk.auth.types import BaseUser
from langgraph_sdk.runtime import ServerRuntime, _ExecutionRuntime, _ReadRuntime

from graphyard.errors import ConfigError

# What the graph is loaded for, as the reference names it (``runtime.access_context``).
Access = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]
# Builds a factory's keyword arguments from the config and the runtime.
Arguments = Callable[[RunnableConfig, ServerRuntime[Any]], dict[str, Any]]

_RUNTIME_TYPES: tuple[type, ...] = (_ExecutionRuntime, _ReadRuntime)
# String annotations (``from __future__ import annotations``, TYPE_CHECKING imports) resolve here.
_NAMES: dict[str, Any] = {"ServerRuntime": ServerRuntime, "RunnableConfig": RunnableConfig}


def _is_runtime(annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty:
        return False
    if annotation is ServerRuntime:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, _RUNTIME_TYPES)
    if isinstance(annotation, str):
        return annotation.split("[")[0].strip() == "ServerRuntime"
    origin = get_origin(annotation)
    if origin is ServerRuntime:
        return True
    args = get_args(annotation)
    return origin is not None and bool(args) and _is_runtime(args[0])


def arguments(factory: Callable[..., Any], where: str) -> Arguments:
    """How to call ``factory``; a ``ConfigError`` naming ``where`` for a signature the
    reference would refuse too."""
    params = list(inspect.signature(factory).parameters.values())
    try:
        hints = typing.get_type_hints(factory, localns=_NAMES)
    except Exception:  # unresolvable annotations: read them as written
        hints = {}
    runtime = [p.name for p in params if _is_runtime(hints.get(p.name, p.annotation))]
    if not params:
        return lambda config, rt: {}
    if len(params) == 1:
        name = params[0].name
        return (lambda c, rt: {name: rt}) if runtime else (lambda c, rt: {name: c})
    if len(params) == 2 and len(runtime) == 1:
        config_name = next(p.name for p in params if p.name != runtime[0])
        return lambda c, rt: {runtime[0]: rt, config_name: c}
    raise ConfigError(
        f"{where}: a graph factory takes nothing, a config, a ServerRuntime, or a config and "
        f"a parameter annotated ServerRuntime; got ({', '.join(p.name for p in params)})"
    )


def runtime(
    access: Access, store: BaseStore | None, user: BaseUser | None, context: Any = None
) -> ServerRuntime[Any]:
    """The runtime a factory gets: a run's carries its context, reads' do not."""
    # The SDK types ``store`` as required; graphs without a store get ``None``, as in LangGraph.
    given = cast(BaseStore, store)
    if access == "threads.create_run":
        return _ExecutionRuntime(access_context=access, user=user, store=given, context=context)
    return _ReadRuntime(access_context=access, user=user, store=given)


@contextlib.asynccontextmanager
async def produced(made: Any) -> AsyncIterator[Any]:
    """What a factory's call produced, entered if it is a context manager, awaited if it is
    awaitable."""
    if hasattr(made, "__aenter__") and hasattr(made, "__aexit__"):
        async with made as graph:
            yield graph
    elif hasattr(made, "__enter__") and hasattr(made, "__exit__"):
        with made as graph:
            yield graph
    elif inspect.isawaitable(made):
        yield await made
    else:
        yield made
