"""A chat node whose fake model streams tokens one by one (no network, no API key).

Each token is the time it was emitted, so a client can measure how long a token takes to reach
it (``make bench`` does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph


class ClockModel(BaseChatModel):
    """Streams ``tokens`` tokens, ``pause`` seconds apart; each token is its emission time."""

    tokens: int = 20
    pause: float = 0.01

    @property
    def _llm_type(self) -> str:
        return "clock"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        text = " ".join(f"{time.time():.6f}" for _ in range(self.tokens))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for _ in range(self.tokens):
            await asyncio.sleep(self.pause)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=f"{time.time():.6f} "))
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


async def respond(state: MessagesState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
    reply = await ClockModel().ainvoke(state["messages"], config)
    return {"messages": [reply]}


builder = StateGraph(MessagesState)
builder.add_node("respond", respond)
builder.add_edge(START, "respond")
builder.add_edge("respond", END)
graph = builder.compile(name="tokens")
