"""A deterministic embedding function for the store's semantic search tests: one axis per
topic, a text's vector counts its words on each axis (no model, no network)."""

from __future__ import annotations

import re

TOPICS = (
    {"cat", "cats", "kitten", "kittens", "purrs"},
    {"dog", "dogs", "puppy", "puppies", "barks"},
    {"pizza", "pasta", "dinner", "cheese"},
    {"hello", "greeting", "hi"},
)
DIMS = len(TOPICS) + 1


async def embed(texts: list[str]) -> list[list[float]]:
    """Async, as langgraph.json's ``store.index.embed`` functions are documented to be."""
    vectors = []
    for text in texts:
        words = re.findall(r"[a-z]+", text.lower())
        # The last axis keeps every vector non-zero (cosine distance is undefined at zero).
        vectors.append([float(sum(w in topic for w in words)) for topic in TOPICS] + [0.1])
    return vectors
