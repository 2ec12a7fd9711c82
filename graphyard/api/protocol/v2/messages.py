"""Chat-model tokens (the ``messages-tuple`` events a run logs) as the protocol's ``messages``
channel: ``message-start``, ``content-block-start``/``-delta``/``-finish``, ``message-finish``.

The block shapes come from langchain-core's own bridge (``_compat_bridge``, what its
``ChatModelStream`` consumes), fed one logged chunk at a time instead of from a live model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.language_models import _compat_bridge as bridge
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_protocol import MessagesData, UsageInfo


@dataclass
class _Open:
    """A message whose chunks are still coming."""

    blocks: dict[Any, tuple[int, Any]] = field(default_factory=dict)
    usage: UsageInfo | None = None
    response_metadata: dict[str, Any] = field(default_factory=dict)


def _node_metadata(metadata: Any) -> dict[str, Any]:
    """The scalar run metadata a message starts with (the SDK reads ``langgraph_node``)."""
    if not isinstance(metadata, dict):
        return {}
    return {
        k: v
        for k, v in metadata.items()
        if k.startswith("langgraph_") and isinstance(v, str | int | float | bool)
    }


class MessageStreams:
    """The messages of one run, as chunks arrive; keyed by namespace and message id."""

    def __init__(self) -> None:
        self._open: dict[tuple[tuple[str, ...], str], _Open] = {}

    def feed(self, ns: tuple[str, ...], message: Any, metadata: Any) -> list[MessagesData]:
        """The events for one logged ``[message, metadata]`` pair (none for other roles)."""
        if not isinstance(message, dict):
            return []
        kind = message.get("type")
        extra = _node_metadata(metadata)
        if kind == "AIMessageChunk":
            return self._chunk(ns, AIMessageChunk.model_validate(message), extra)
        if kind == "ai":
            whole = AIMessage.model_validate(message)
            if (ns, whole.id or "") in self._open:
                return self.finish(ns, whole.id or "")
            events = list(bridge.message_to_events(whole))
            _stamp(events[0], extra)
            return events
        return []  # tool results travel on the tools channel; inputs are the client's own

    def _chunk(
        self, ns: tuple[str, ...], chunk: AIMessageChunk, extra: dict[str, Any]
    ) -> list[MessagesData]:
        key = (ns, chunk.id or "")
        events: list[MessagesData] = []
        state = self._open.get(key)
        if state is None:
            state = self._open[key] = _Open()
            start = bridge._build_message_start(chunk, None)
            _stamp(start, extra)
            events.append(start)
        if chunk.response_metadata:
            state.response_metadata.update(chunk.response_metadata)
        for block_key, block in bridge._iter_protocol_blocks(chunk):
            if block_key not in state.blocks:
                index = len(state.blocks)
                state.blocks[block_key] = (index, dict(block))
                events.append(
                    {
                        "event": "content-block-start",
                        "index": index,
                        "content": bridge._start_skeleton(block),
                    }
                )
            else:
                index, held = state.blocks[block_key]
                state.blocks[block_key] = (index, bridge._accumulate(held, block))
            delta = bridge._to_content_delta(block)
            if delta is not None:
                events.append({"event": "content-block-delta", "index": index, "delta": delta})
        if chunk.usage_metadata:
            state.usage = bridge._accumulate_usage(state.usage, chunk.usage_metadata)
        if chunk.chunk_position == "last":
            events.extend(self.finish(*key))
        return events

    def finish(self, ns: tuple[str, ...], message_id: str) -> list[MessagesData]:
        """Close one message: its blocks finalized, then ``message-finish``."""
        state = self._open.pop((ns, message_id), None)
        if state is None:
            return []
        events: list[MessagesData] = [
            bridge._finalize_and_build_finish(index, block)
            for index, block in state.blocks.values()
        ]
        events.append(
            bridge._build_message_finish(
                usage=state.usage, response_metadata=state.response_metadata
            )
        )
        return events

    def open_ids(self) -> list[tuple[tuple[str, ...], str]]:
        return list(self._open)

    def finish_all(self) -> list[tuple[tuple[str, ...], list[MessagesData]]]:
        """Close every message still open (its run paused or ended mid-message)."""
        return [(ns, self.finish(ns, mid)) for ns, mid in self.open_ids()]


def _stamp(start: Any, extra: dict[str, Any]) -> None:
    if start.get("event") == "message-start" and extra:
        start["metadata"] = {**cast(dict[str, Any], start.get("metadata") or {}), **extra}
