"""A real browser against the real API: a chat page built on ``useStream`` (the React hook of
the official ``@langchain/langgraph-sdk``, bundled with vite, tests/browser/) served on its own
origin, driven in Debian's chromium by playwright-core (tests/browser/drive.mjs).

Skipped, saying what is missing, without node, npm or chromium; ``.ci/run`` installs chromium.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest

from graphyard.devstack.ports import free_port
from tests.graphs.browser_chat import reply_text
from tests.stack import ROOT, Stack

pytestmark = [pytest.mark.slow, pytest.mark.browser]

APP = ROOT / "tests" / "browser"
RESUMED = "Resumed with yes: all done."


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("node", "npm", "chromium")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(
            f"browser test skipped: {' and '.join(missing)} not found on PATH "
            "(apt-get install -y chromium nodejs npm)"
        )
    return {name: str(path) for name, path in found.items()}


def _run(*args: str) -> None:
    done = subprocess.run(args, cwd=APP, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _installed() -> bool:
    """node_modules holds what package-lock.json pins (npm writes its own copy of the lock)."""
    copy = APP / "node_modules" / ".package-lock.json"
    return copy.exists() and copy.stat().st_mtime >= (APP / "package-lock.json").stat().st_mtime


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def page_origin() -> Iterator[tuple[str, dict[str, str]]]:
    """The page built once (npm ci when node_modules is missing or stale, then vite build) and
    served from dist/ on a port of its own: another origin than the API's."""
    tools = _tools()
    if not _installed():
        _run(tools["npm"], "ci", "--no-audit", "--no-fund")
    _run(tools["npm"], "run", "--silent", "build")
    handler = functools.partial(_Quiet, directory=str(APP / "dist"))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", tools
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def _drive(
    flow: str, origin: tuple[str, dict[str, str]], stack: Stack, message: str
) -> dict[str, Any]:
    """One flow of drive.mjs in chromium against ``stack``'s API: what the page showed."""
    base, tools = origin
    spec = {
        "page": f"{base}/?{urlencode({'api': stack.url})}",
        "api": stack.url,
        "chromium": tools["chromium"],
        "message": message,
        "reply": reply_text(message),
        "resumed": RESUMED,
    }
    # The API serves from this event loop: wait for node without blocking it.
    proc = await asyncio.create_subprocess_exec(
        tools["node"],
        str(APP / "drive.mjs"),
        flow,
        json.dumps(spec),
        cwd=APP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    assert result["problems"] == []
    return result


async def _thread_messages(stack: Stack, thread_id: str) -> list[tuple[str, str]]:
    state = await stack.client.threads.get_state(thread_id)
    return [(m["type"], m["content"]) for m in state["values"]["messages"]]


async def test_a_reply_grows_in_the_page_and_a_reload_finds_the_thread(
    page_origin: tuple[str, dict[str, str]], stack: Stack
) -> None:
    message = "hello browser"
    result = await _drive("chat", page_origin, stack, message)

    # Texts seen in the page before the whole reply: it grew token by token.
    assert result["partials"]
    assert len(set(result["partials"])) >= 3
    assert result["afterReload"] == [
        {"type": "human", "text": message},
        {"type": "ai", "text": reply_text(message)},
    ]
    assert await _thread_messages(stack, result["thread"]) == [
        ("human", message),
        ("ai", reply_text(message)),
    ]


async def test_an_interrupt_is_answered_from_the_page(
    page_origin: tuple[str, dict[str, str]], stack: Stack
) -> None:
    message = "please approve"
    result = await _drive("interrupt", page_origin, stack, message)

    assert result["question"] == "Approve the plan?"
    assert result["final"][-1] == {"type": "ai", "text": RESUMED}
    state = await stack.client.threads.get_state(result["thread"])
    assert state["next"] == []
    assert state["values"]["answer"] == "yes"
    # graphyard answers an interrupt in the run that stopped there: one run, gone on to its end.
    runs = await stack.client.runs.list(result["thread"])
    assert [r["status"] for r in runs] == ["success"]


async def test_a_reload_mid_reply_joins_the_run_again_and_answers_its_interrupt(
    page_origin: tuple[str, dict[str, str]], stack: Stack
) -> None:
    message = "approve this, slowly"
    result = await _drive("rejoin", page_origin, stack, message)

    assert result["joins"] >= 1
    # The reload came mid-reply, the page joined while the reply was still being written (the
    # thread held only the question) and saw the rest arrive token by token.
    assert len(result["beforeReload"]) < len(reply_text(message))
    assert result["messagesAtJoin"] == 1
    assert result["partialsAfterReload"]
    assert await _thread_messages(stack, result["thread"]) == [
        ("human", message),
        ("ai", reply_text(message)),
        ("ai", RESUMED),
    ]
    # The run the reload left behind was not cancelled: it stopped at the interrupt and the
    # page's answer took it to its end.
    runs = await stack.client.runs.list(result["thread"])
    assert [(r["run_id"], r["status"]) for r in runs] == [(result["storedRun"], "success")]
