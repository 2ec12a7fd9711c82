"""Import what ``langgraph.json`` names: ``./path/file.py:variable`` (relative to the config's
folder) or ``package.module:variable``. Graphs and the store's embedding function load here."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from graphyard.errors import ConfigError


def is_file_ref(module_ref: str) -> bool:
    """Whether the part before ``:`` names a file rather than an importable module."""
    return "/" in module_ref or module_ref.endswith(".py")


def _load_file(config_path: Path, key: str, module_ref: str) -> Any:
    root = config_path.parent
    file = (root / module_ref).resolve()
    if not file.is_file():
        raise ConfigError(f"{config_path}: key {key}: file {file} not found")
    # A stable module name derived from the path: API and worker processes must agree on it,
    # because checkpoints may record the module of user-defined types.
    rel = file.relative_to(root) if file.is_relative_to(root) else file
    name = ".".join(rel.with_suffix("").parts).lstrip(".") or file.stem
    module = sys.modules.get(name)
    if module is None or getattr(module, "__file__", None) != str(file):
        module_spec = importlib.util.spec_from_file_location(name, file)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    return module


def import_target(config_path: Path, key: str, spec: str) -> Any:
    """The variable ``spec`` names; errors name the config file, the ``key`` and the cause."""
    module_ref, sep, attr = spec.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ConfigError(
            f"{config_path}: key {key}: {spec!r} must look like "
            "'./path/file.py:variable' or 'package.module:variable'"
        )
    try:
        if is_file_ref(module_ref):
            module = _load_file(config_path, key, module_ref)
        else:
            module = importlib.import_module(module_ref)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{config_path}: key {key}: importing {module_ref!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(module, attr):
        raise ConfigError(f"{config_path}: key {key}: {module_ref!r} has no variable {attr!r}")
    return getattr(module, attr)
