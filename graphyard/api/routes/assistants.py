"""Assistants: search and get."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from graphyard.api.deps import Deps, check_uuid
from graphyard.api.schemas import AssistantSearch, assistant_json
from graphyard.errors import NotFound
from graphyard.storage import assistants as rows

router = APIRouter(prefix="/assistants", tags=["assistants"])


@router.post("/search")
async def search(body: AssistantSearch, services: Deps, response: Response) -> list[dict[str, Any]]:
    async with services.pool.connection() as conn:
        found, total = await rows.search(
            conn,
            graph_id=body.graph_id,
            metadata=body.metadata,
            name=body.name,
            limit=body.limit,
            offset=body.offset,
            sort_by=body.sort_by,
            sort_order=body.sort_order,
        )
    response.headers["X-Pagination-Total"] = str(total)
    if body.offset + len(found) < total:
        response.headers["X-Pagination-Next"] = str(body.offset + len(found))
    items = [assistant_json(r) for r in found]
    if body.select:
        items = [{k: v for k, v in item.items() if k in body.select} for item in items]
    return items


@router.get("/{assistant_id}")
async def get(assistant_id: str, services: Deps) -> dict[str, Any]:
    assistant_id = check_uuid(assistant_id, "assistant")
    async with services.pool.connection() as conn:
        row = await rows.get(conn, assistant_id)
    if row is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return assistant_json(row)
