"""langgraph.json loading: graph specs, factories, dependencies, env, and errors that name the
file, the key and the cause."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig

from graphyard.errors import ConfigError
from graphyard.graphs import GraphRegistry, apply_env, default_assistant_id, load_config

pytestmark = pytest.mark.core

GRAPH_MODULE = """
from typing import TypedDict
from langgraph.graph import StateGraph, START

class S(TypedDict):
    n: int

def inc(s: S) -> S:
    return {"n": s["n"] + 1}

builder = StateGraph(S)
builder.add_node("inc", inc)
builder.add_edge(START, "inc")
compiled = builder.compile(name="counter")
VALUE = 3

def factory(config):
    assert config["configurable"]["flavour"] == "x"
    return builder.compile()
"""


def project(tmp_path: Path, config: object, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "langgraph.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return path


async def test_specs_builders_and_factories(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        {
            "dependencies": ["./lib"],
            "graphs": {
                "compiled": "./agent/g.py:compiled",
                "builder": {"path": "./agent/g.py:builder", "description": "uncompiled"},
                "factory": "./agent/g.py:factory",
                "module": "mygraphs:compiled",
            },
        },
        {"agent/g.py": GRAPH_MODULE, "lib/mygraphs.py": GRAPH_MODULE},
    )
    registry = GraphRegistry.from_path(path)
    assert registry.graph_ids == ["compiled", "builder", "factory", "module"]
    assert registry.get("compiled").name == "counter"
    assert registry.get("builder").name == "builder"  # "LangGraph" becomes the graph id
    assert registry.get("builder").description == "uncompiled"
    config = RunnableConfig(configurable={"flavour": "x"})
    for graph_id in registry.graph_ids:
        async with registry.get(graph_id).resolve(config) as graph:
            assert (await graph.ainvoke({"n": 1}))["n"] == 2
    assert default_assistant_id("agent") == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


def test_env_mapping_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GY_TEST_A", raising=False)
    monkeypatch.delenv("GY_TEST_B", raising=False)
    path = project(tmp_path, {"graphs": {"g": "./g.py:compiled"}, "env": {"GY_TEST_A": "1"}})
    apply_env(load_config(path))
    assert os.environ["GY_TEST_A"] == "1"
    path = project(
        tmp_path, {"graphs": {"g": "./g.py:compiled"}, "env": ".env"}, {".env": "GY_TEST_B=two\n"}
    )
    apply_env(load_config(path))
    assert os.environ["GY_TEST_B"] == "two"


def load_everything(path: Path) -> None:
    config = load_config(path)
    apply_env(config)
    GraphRegistry(config)


@pytest.mark.parametrize(
    ("config", "files", "message"),
    [
        ("{not json", {}, "invalid JSON at line 1"),
        ({"graphs": {}}, {}, "key graphs"),
        ({"graph": {"g": "./g.py:x"}}, {}, "key graphs: Field required"),
        ({"graphs": {"g": "no-colon"}}, {}, "key graphs.g: 'no-colon' must look like"),
        ({"graphs": {"g": "./missing.py:graph"}}, {}, "key graphs.g: file"),
        ({"graphs": {"g": "./g.py:nope"}}, {"g.py": GRAPH_MODULE}, "has no variable 'nope'"),
        (
            {"graphs": {"g": "./bad.py:graph"}},
            {"bad.py": "raise RuntimeError('boom at import')"},
            "importing './bad.py' failed: RuntimeError: boom at import",
        ),
        ({"graphs": {"g": "./g.py:VALUE"}}, {"g.py": GRAPH_MODULE}, "is a int, not a graph"),
        (
            {"graphs": {"g": "./g.py:compiled"}, "env": "missing.env"},
            {"g.py": GRAPH_MODULE},
            "key env",
        ),
        (
            {"graphs": {"g": {"path": "./g.py:compiled", "retry": {"max_attempts": 0}}}},
            {"g.py": GRAPH_MODULE},
            "key graphs.g.GraphEntry.retry.max_attempts",
        ),
        (
            {"graphs": {"g": {"path": "./g.py:compiled", "retry": {"attempts": 3}}}},
            {"g.py": GRAPH_MODULE},
            "retry.attempts: Extra inputs are not permitted",
        ),
    ],
)
def test_errors_name_file_key_and_cause(
    tmp_path: Path, config: object, files: dict[str, str], message: str
) -> None:
    path = project(tmp_path, config, files)
    with pytest.raises(ConfigError) as raised:
        load_everything(path)
    assert str(path) in raised.value.detail or "graph 'g'" in raised.value.detail
    assert message in raised.value.detail


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "langgraph.json")
