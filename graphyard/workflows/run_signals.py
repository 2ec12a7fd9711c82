"""The inputs of ``RunWorkflow``'s signals as people send them, as pure functions.

The ``resume`` signal takes what an operator types in the Temporal UI's or CLI's signal form:
an object whose keys are only ``resume``, ``update`` and ``goto`` is a command (what the API
sends; ``{}`` or no input at all continues), any other JSON value is the answer itself
(``"yes"`` is ``{"resume": "yes"}``). The ``cancel`` signal takes ``{"action": ...}`` or the
action alone. Anything else cannot be applied: the workflow logs it and shows it in its
current details instead of dropping it unseen.
"""

from __future__ import annotations

from typing import Any, get_args

from graphyard.types import CancelAction, CancelInput, ResumeInput

_COMMAND_KEYS = frozenset({"resume", "update", "goto"})
_ACTIONS: tuple[str, ...] = get_args(CancelAction)


def resume_answer(values: tuple[Any, ...]) -> ResumeInput | str:
    """The answer the ``resume`` signal's input stands for, or why it cannot be one."""
    if not values:
        return ResumeInput()
    if len(values) > 1:
        return f"resume takes one input, got {len(values)}"
    value = values[0]
    if isinstance(value, dict) and set(value) <= _COMMAND_KEYS:
        return ResumeInput(**value)
    return ResumeInput(resume=value)


def cancel_request(values: tuple[Any, ...]) -> CancelInput | str:
    """The stop the ``cancel`` signal's input asks for, or why it cannot be one."""
    if not values:
        return CancelInput()
    value = values[0] if len(values) == 1 else None
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict) or not set(value) <= {"action", "run_id"}:
        return f"cancel takes {{'action': 'interrupt' | 'rollback'}}, got {values!r:.200}"
    action = value.get("action") or "interrupt"
    if action == "rollback":
        return CancelInput(action="rollback", run_id=value.get("run_id"))
    if action == "interrupt":
        return CancelInput(action="interrupt", run_id=value.get("run_id"))
    return f"cancel action must be one of {', '.join(_ACTIONS)}, got {action!r:.100}"
