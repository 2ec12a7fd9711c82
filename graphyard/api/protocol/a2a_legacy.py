"""A2A 0.3 shapes, for clients calling the 0.3 method names (``message/send`` ...): roles and
states lower-case, a task or event bare with its ``kind`` rather than wrapped in its field."""

from __future__ import annotations

from typing import Any

LEGACY_ROLES = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}
_FINAL = ("completed", "failed", "canceled", "input-required")


def legacy(data: Any) -> Any:
    """An answer in 0.3 shape: lower-case states and roles, a bare task, ``kind`` tags."""
    if isinstance(data, list):
        return [legacy(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "state" and isinstance(value, str):
            out[key] = value.removeprefix("TASK_STATE_").lower().replace("_", "-")
        elif key == "role" and isinstance(value, str):
            out[key] = value.removeprefix("ROLE_").lower()
            out["kind"] = "message"
        elif key == "parts" and isinstance(value, list):
            out[key] = [_part(part) for part in value]
        else:
            out[key] = legacy(value)
    return out


def _part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    kind = "text" if "text" in part else "data" if "data" in part else "file"
    return {**legacy(part), "kind": kind}


def legacy_result(result: dict[str, Any]) -> dict[str, Any]:
    """``{"task": {...}}`` → the task itself with ``kind: task`` (likewise the events)."""
    kinds = {"task": "task", "statusUpdate": "status-update", "artifactUpdate": "artifact-update"}
    for key, kind in kinds.items():
        if key in result:
            inner = legacy(result[key])
            if kind == "status-update":
                state = inner.get("status", {}).get("state")
                inner["final"] = state in _FINAL
            return {**inner, "kind": kind}
    return {key: legacy(value) for key, value in result.items()}
