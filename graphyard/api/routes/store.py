"""The store (long-term memory): items by namespace and key, search, namespaces.

langgraph's ``AsyncPostgresStore`` does the work (``graphyard.store``); graph nodes use the same
store, so what they write is served here and what is put here reaches them.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Response
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from graphyard.api.auth import AuthDep, RequestAuth
from graphyard.api.deps import Deps
from graphyard.api.models import StoreItem, StoreNamespaces, StoreSearchItems, returns
from graphyard.api.routing import BodyRoute
from graphyard.api.store_schemas import (
    StoreDelete,
    StoreListNamespaces,
    StorePut,
    StoreSearch,
    check_filter,
    check_index,
    check_key,
    item_namespace,
    labels,
    query_namespace,
)
from graphyard.runs.backends import Services
from graphyard.serde import to_jsonable

router = APIRouter(prefix="/store", tags=["store"], route_class=BodyRoute)


async def _run(services: Services, op: Op) -> Result:
    # One request, one batch: through the store's queue, requests arriving together would share
    # a batch, and one failing operation would fail them all.
    results = await services.store.abatch([op])
    return results[0]


async def _authorized(
    auth: RequestAuth, action: str, value: dict[str, Any], field: str = "namespace"
) -> tuple[str, ...]:
    """Run the ``store.<action>`` handler; the namespace it leaves in ``value`` (typically the
    caller's identity put in front) is the one the operation uses. A filter it returns means
    nothing to the store and is ignored."""
    await auth.authorize("store", action, value)
    namespace = value.get(field)
    return labels(namespace) if namespace is not None else ()


def _refresh(services: Services, refresh_ttl: bool | None) -> bool:
    """Whether a read extends the TTL of what it returns (``store.ttl.refresh_on_read``)."""
    if refresh_ttl is not None:
        return refresh_ttl
    return services.graphs.config.project.store.ttl.refresh_on_read


@router.put("/items", status_code=204)
async def put_item(body: StorePut, services: Deps, auth: AuthDep) -> Response:
    """Insert or replace the item at ``namespace`` and ``key``."""
    key = check_key(body.key)
    value = {
        "namespace": item_namespace(body.namespace),
        "key": key,
        "value": body.value,
        "index": body.index,
    }
    namespace = item_namespace(await _authorized(auth, "put", value))
    default_ttl = services.graphs.config.project.store.ttl.default_ttl
    ttl = body.ttl if "ttl" in body.model_fields_set else default_ttl
    value = cast(dict[str, Any], to_jsonable(body.value))  # NUL and lone surrogates replaced
    await _run(services, PutOp(namespace, key, value, index=check_index(body.index), ttl=ttl))
    return Response(status_code=204)


@router.get("/items", **returns(StoreItem | None, "The item, or `null` when there is none."))
async def get_item(
    services: Deps,
    auth: AuthDep,
    namespace: Annotated[
        list[str] | None,
        Query(description="The labels joined with `.` (`users.u1`); repeats append labels."),
    ] = None,
    key: str | None = None,
    refresh_ttl: bool | None = None,
) -> dict[str, Any] | None:
    """The item at ``namespace`` (labels joined with ``.``) and ``key``, or ``null`` when there
    is none; no ``key`` is a 400. ``refresh_ttl`` extends the item's TTL (by default as
    ``store.ttl.refresh_on_read`` says)."""
    value: dict[str, Any] = {"namespace": query_namespace(namespace), "key": check_key(key)}
    op = GetOp(await _authorized(auth, "get", value), value["key"], _refresh(services, refresh_ttl))
    item = cast(Item | None, await _run(services, op))
    return item.dict() if item is not None else None


@router.delete("/items", status_code=204)
async def delete_item(body: StoreDelete, services: Deps, auth: AuthDep) -> Response:
    """Delete the item; deleting one that does not exist is not an error."""
    value: dict[str, Any] = {"namespace": labels(body.namespace), "key": check_key(body.key)}
    namespace = await _authorized(auth, "delete", value)
    await _run(services, PutOp(namespace, value["key"], None))
    return Response(status_code=204)


@router.post("/items/search", **returns(StoreSearchItems))
async def search_items(body: StoreSearch, services: Deps, auth: AuthDep) -> dict[str, Any]:
    """Items under ``namespace_prefix`` matching ``filter`` (``{field: value}`` or
    ``{field: {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": value}}``)."""
    value = {
        "namespace": labels(body.namespace_prefix),
        "filter": body.filter,
        "limit": body.limit,
        "offset": body.offset,
        "query": body.query,
    }
    op = SearchOp(
        await _authorized(auth, "search", value),
        check_filter(body.filter),
        body.limit,
        body.offset,
        body.query or None,
        _refresh(services, body.refresh_ttl),
    )
    items = cast(list[SearchItem], await _run(services, op))
    return {"items": [item.dict() for item in items]}


@router.post("/namespaces", **returns(StoreNamespaces))
async def list_namespaces(
    body: StoreListNamespaces, services: Deps, auth: AuthDep
) -> dict[str, Any]:
    """Namespaces holding items, sorted; ``max_depth`` truncates them (and merges the
    duplicates that makes). A handler's ``namespace`` is the prefix."""
    value = {
        "namespace": labels(body.prefix) if body.prefix else None,
        "suffix": labels(body.suffix) if body.suffix else None,
        "max_depth": body.max_depth,
        "limit": body.limit,
        "offset": body.offset,
    }
    prefix = await _authorized(auth, "list_namespaces", value)
    conditions = []
    if prefix:
        conditions.append(MatchCondition(match_type="prefix", path=prefix))
    if body.suffix:
        conditions.append(MatchCondition(match_type="suffix", path=labels(body.suffix)))
    op = ListNamespacesOp(tuple(conditions), body.max_depth, body.limit, body.offset)
    namespaces = cast(list[tuple[str, ...]], await _run(services, op))
    return {"namespaces": [list(namespace) for namespace in namespaces]}
