"""The API refuses secret-looking config, context and metadata (422, changing nothing) and
lets near misses, allowed keys and a disabled check through."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import UnprocessableEntityError

from graphyard.api.app import create_app
from graphyard.config import Settings
from graphyard.graphs import GraphRegistry, apply_env, load_config
from graphyard.runs.secret_check import find_secrets
from tests.stack import Stack

pytestmark = pytest.mark.core

# Shapes of real credentials, assembled so that no scanner mistakes this file for a leak.
OPENAI = "sk-" + "proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2"
GITHUB = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dBjftJeZ4CVPmB92K27uhbUJU1p1r"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"

NEAR_MISSES: dict[str, Any] = {
    "max_tokens": 512,
    "token_count": 3,
    "tokenizer": "cl100k_base",
    "max_completion_tokens": 100,
    "sort_key": "created_at",
    "author": "ada",
    "use_token": True,
    "api_key": "",
    "password": None,
    "model": "gpt-4o-mini",
    "note": "the bearer of good news; see https://example.com/docs",
    "library": "sk-learn",
}


def _detail(exc: UnprocessableEntityError) -> str:
    detail: str = exc.response.json()["detail"]
    return detail


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        (
            {"configurable": {"openai_api_key": "abc123"}},
            "config.configurable.openai_api_key",
            "key",
        ),
        ({"configurable": {"clientSecret": 42}}, "config.configurable.clientSecret", "key"),
        ({"headers": {"Authorization": "Bearer abcdefghijklmnop"}}, "config.headers", "key"),
        ({"tools": [{"name": "gh", "args": [GITHUB]}]}, "config.tools[0].args[0]", "GitHub"),
        ({"llm": OPENAI}, "config.llm", "OpenAI"),
        ({"aws": {"id": AWS}}, "config.aws.id", "AWS"),
        ({"session": JWT}, "config.session", "JSON Web Token"),
        ({"pem": PEM}, "config.pem", "PEM"),
        ({"db": "postgresql://app:hunter2@db/app"}, "config.db", "URL with a password"),
        ({"header": "Bearer abcdefghijklmnop1234"}, "config.header", "Authorization header"),
    ],
)
def test_secret_shapes_are_found(value: dict[str, Any], path: str, reason: str) -> None:
    (found,) = list(find_secrets(value, "config", []))
    assert found[0].startswith(path)
    assert reason in found[1]


def test_near_misses_pass() -> None:
    assert list(find_secrets({"configurable": NEAR_MISSES}, "config", [])) == []


def test_allow_names_and_paths() -> None:
    value = {"configurable": {"session_token": "abc123", "auth": {"access_token": "xyz789"}}}
    assert len(list(find_secrets(value, "config", []))) == 2
    assert len(list(find_secrets(value, "config", ["session_token"]))) == 1
    assert list(find_secrets(value, "config", ["session_token", "config.configurable.auth"])) == []
    assert list(find_secrets(value, "config", ["config.configurable.*"])) == []


async def test_assistant_create_and_update_refuse_secrets(api: Stack) -> None:
    client = api.client
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.assistants.create(
            "chain", config={"configurable": {"openai_api_key": OPENAI}}, name="leaky"
        )
    detail = _detail(caught.value)
    assert "config.configurable.openai_api_key" in detail
    assert OPENAI not in detail
    assert "env" in detail
    assert "langgraph.json" in detail
    assert "docs/secrets.md" in detail
    assert await client.assistants.search(name="leaky") == []

    assistant = await client.assistants.create("chain", name="tidy", metadata={"team": "a"})
    for change in (
        {"metadata": {"keys": [GITHUB]}},
        {"context": {"aws": AWS}},
        {"config": {"configurable": {"db_password": "hunter22"}}},
    ):
        with pytest.raises(UnprocessableEntityError):
            await client.assistants.update(assistant["assistant_id"], **change)
    after = await client.assistants.get(assistant["assistant_id"])
    assert after["version"] == 1
    assert after["metadata"] == {"team": "a"}
    assert after["context"] == {}


async def test_run_create_refuses_secrets_and_creates_nothing(api: Stack) -> None:
    client = api.client
    thread = await client.threads.create()
    tid = thread["thread_id"]
    attempts: list[dict[str, Any]] = [
        {"config": {"configurable": {"github_token": GITHUB}}},
        {"context": {"db": "postgresql://app:hunter2@db/app"}},
        {"metadata": {"trace": {"jwt": JWT}}},
    ]
    for kwargs in attempts:
        with pytest.raises(UnprocessableEntityError) as caught:
            await client.runs.create(tid, "chain", input={"n": 0}, **kwargs)
        assert "belong" in _detail(caught.value)
        with pytest.raises(httpx.HTTPStatusError) as stateless:
            await client.runs.wait(None, "chain", input={"n": 0}, **kwargs)
        assert stateless.value.response.status_code == 422
    assert await client.runs.list(tid) == []
    assert (await client.threads.get(tid))["status"] == "idle"
    assert api.sql("SELECT count(*) AS n FROM runs")[0]["n"] == 0


async def test_thread_create_and_patch_refuse_secrets_in_metadata(api: Stack) -> None:
    client = api.client
    thread_id = str(uuid.uuid4())
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.threads.create(thread_id=thread_id, metadata={"openai_api_key": OPENAI})
    detail = _detail(caught.value)
    assert "metadata.openai_api_key" in detail
    assert "thread" in detail
    assert OPENAI not in detail
    assert api.sql("SELECT count(*) AS n FROM threads")[0]["n"] == 0
    thread = await client.threads.create(metadata={"team": "a"})
    for metadata in ({"note": {"db": "postgresql://app:hunter2@db/app"}}, {"keys": [GITHUB]}):
        with pytest.raises(UnprocessableEntityError):
            await client.threads.update(thread["thread_id"], metadata=metadata)
    assert (await client.threads.get(thread["thread_id"]))["metadata"] == {"team": "a"}


async def test_cron_create_and_update_refuse_secrets(api: Stack) -> None:
    client = api.client
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.crons.create("chain", schedule="0 0 * * *", context={"pem": PEM})
    assert "context.pem" in _detail(caught.value)
    assert await client.crons.search() == []
    cron = await client.crons.create("chain", schedule="0 0 * * *", input={"n": 1})
    with pytest.raises(UnprocessableEntityError):
        await client.crons.update(cron["cron_id"], config={"configurable": {"api_key": "k-123"}})
    with pytest.raises(UnprocessableEntityError):
        await client.crons.update(cron["cron_id"], metadata={"aws": AWS})
    (after,) = await client.crons.search()
    assert after["payload"]["config"]["configurable"] == {"cron_id": cron["cron_id"]}
    assert after["metadata"] == {}


async def test_near_misses_pass_through_the_api(api: Stack) -> None:
    assistant = await api.client.assistants.create(
        "chain", config={"configurable": NEAR_MISSES}, metadata={"tokens_used": 10}
    )
    assert assistant["config"]["configurable"] == NEAR_MISSES


@pytest.mark.parametrize(
    "settings",
    [{"secret_check_allow": ["session_token", "metadata.*"]}, {"secret_check": False}],
    indirect=True,
)
async def test_the_allow_list_and_the_off_switch(api: Stack, settings: Settings) -> None:
    assistant = await api.client.assistants.create(
        "chain",
        config={"configurable": {"session_token": "abc123"}},
        metadata={"github": GITHUB},
    )
    assert assistant["config"]["configurable"] == {"session_token": "abc123"}
    if settings.secret_check:
        with pytest.raises(UnprocessableEntityError):
            await api.client.assistants.create("chain", context={"api_key": "abc123"})


def test_env_is_a_mapping_or_a_file_and_the_process_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``env`` of langgraph.json as a .env file path or a mapping (applied by workers only)."""
    monkeypatch.setenv("GY_TEST_PRESET", "process")
    (tmp_path / ".env").write_text("GY_TEST_FROM_FILE=file\nGY_TEST_PRESET=file\n")
    graph = Path(__file__).parent / "graphs" / "canary.py"
    for env, name in ((".env", "GY_TEST_FROM_FILE"), ({"GY_TEST_FROM_MAP": "map"}, None)):
        (tmp_path / "langgraph.json").write_text(
            json.dumps({"graphs": {"canary": f"{graph}:graph"}, "env": env})
        )
        applied = apply_env(load_config(tmp_path / "langgraph.json"))
        assert applied
        if name:
            assert os.environ[name] == "file"
    assert os.environ.pop("GY_TEST_FROM_MAP") == "map"
    assert os.environ.pop("GY_TEST_FROM_FILE") == "file"
    assert os.environ["GY_TEST_PRESET"] == "process"  # the process environment wins


def test_the_api_does_not_load_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GY_TEST_API_SECRET", raising=False)
    graph = Path(__file__).parent / "graphs" / "canary.py"
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {"graphs": {"canary": f"{graph}:graph"}, "env": {"GY_TEST_API_SECRET": "s3cr3t!"}}
        )
    )
    create_app(Settings(config_path=config), GraphRegistry.from_path(config))
    assert "GY_TEST_API_SECRET" not in os.environ
