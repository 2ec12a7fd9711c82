"""The chat graph behind the browser test (tests/test_browser.py).

A fake model (langchain-core's ``GenericFakeChatModel``, no network) streams its reply word by
word, a pause apart so a page sees it grow. A message that asks to "approve" stops at
``interrupt()`` after the reply and, once answered, streams a last message that names the
answer; a message that says "slowly" gets a long reply, long enough to reload the page during it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

WORDS = "one two three four five six seven eight nine ten"


class PacedFakeChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` with ``pause`` seconds between tokens."""

    pause: float = 0.04

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk
            await asyncio.sleep(self.pause)


class State(MessagesState, total=False):
    answer: str


def reply_text(message: str) -> str:
    """The whole reply to ``message``, as the page must show it once streamed."""
    count = 6 if "slowly" in message else 1
    return f"Echo: {message} | " + " ".join([WORDS] * count)


async def _say(text: str, state: State, config: RunnableConfig) -> AIMessage:
    model = PacedFakeChatModel(messages=iter([AIMessage(text)]))
    reply = await model.ainvoke(state["messages"], config)
    return AIMessage(content=reply.content, id=reply.id)


def _asked(state: State) -> str:
    human = [m for m in state["messages"] if m.type == "human"]
    return str(human[-1].content) if human else ""


async def respond(state: State, config: RunnableConfig) -> dict[str, Any]:
    return {"messages": [await _say(reply_text(_asked(state)), state, config)]}


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "Approve the plan?"})
    return {"answer": str(answer)}


async def act(state: State, config: RunnableConfig) -> dict[str, Any]:
    text = f"Resumed with {state['answer']}: all done."
    return {"messages": [await _say(text, state, config)]}


def route(state: State) -> str:
    return "ask" if "approve" in _asked(state) else END


builder = StateGraph(State)
builder.add_node("respond", respond)
builder.add_node("ask", ask)
builder.add_node("act", act)
builder.add_edge(START, "respond")
builder.add_conditional_edges("respond", route, ["ask", END])
builder.add_edge("ask", "act")
builder.add_edge("act", END)
graph = builder.compile(name="browser_chat")
