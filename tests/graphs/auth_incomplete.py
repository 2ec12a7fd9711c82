"""An ``Auth`` with authorization handlers but no ``@auth.authenticate``: loading refuses it."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()


@auth.on
async def anything(ctx: Auth.types.AuthContext, value: Any) -> None:
    return None
