"""JSON responses rendered with graphyard's serializer (messages, UUIDs, datetimes...)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from graphyard.serde import dumps


class JSON(JSONResponse):
    """The default response class of the app."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
