"""A real browser against the real API: a chat page built on ``useStream`` (the React hook of
the official ``@langchain/langgraph-sdk``, bundled with vite, tests/browser/) served on its own
origin, driven in Debian's chromium by playwright-core (tests/browser/drive.mjs).

Skipped, saying what is missing, without node, npm or chromium; ``.ci/run`` installs chromium.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest

from graphyard.devstack.ports import free_port
from tests import node_app
from tests.graphs.browser_chat import reply_text
from tests.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.browser]

APP = node_app.APP
RESUMED = "Resumed with yes: all done."


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def page_origin() -> Iterator[tuple[str, dict[str, str]]]:
    """The page built once (npm ci when node_modules is missing or stale, then vite build) and
    served from dist/ on a port of its own: another origin than the API's."""
    tools = node_app.tools("node", "npm", "chromium")
    node_app.install(tools["npm"])
    node_app.run(tools["npm"], "run", "--silent", "build")
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
