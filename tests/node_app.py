"""tests/browser/, the node project both the browser test and the JS SDK tests run: its tools
found and its packages installed (``npm ci`` when node_modules is missing or older than the
lock), once per session, whichever test needs it first."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.stack import ROOT

APP = ROOT / "tests" / "browser"


def tools(*names: str) -> dict[str, str]:
    """The paths of ``names``; the test is skipped, saying what is missing, without one."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not found on PATH (apt-get install -y chromium nodejs npm)"
        )
    return {name: str(path) for name, path in found.items()}


def run(*args: str) -> None:
    done = subprocess.run(args, cwd=APP, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def install(npm: str) -> None:
    """node_modules as package-lock.json pins it (npm writes its own copy of the lock)."""
    copy = APP / "node_modules" / ".package-lock.json"
    if not copy.exists() or copy.stat().st_mtime < (APP / "package-lock.json").stat().st_mtime:
        run(npm, "ci", "--no-audit", "--no-fund")
