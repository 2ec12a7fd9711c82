"""The one settings class. Built once per process (from ``GRAPHYARD_*`` variables) and passed in."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from graphyard.http_config import CorsConfig, mount_prefix

StepActivityKind = Literal["local", "regular"]
LogFormat = Literal["text", "json"]


class Settings(BaseSettings):
    """Everything the API and the worker need to find Temporal, Postgres and the graphs."""

    model_config = SettingsConfigDict(env_prefix="GRAPHYARD_", extra="ignore")

    config_path: Path = Field(
        default=Path("langgraph.json"), description="The langgraph.json naming the graphs."
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_api_key: str | None = None
    task_queue: str = "graphyard"
    search_attributes: bool = Field(
        default=True,
        description="Tag run workflows with ThreadId, AssistantId, GraphId and RunStatus. The "
        "API and workers refuse to start if the namespace lacks them (register them with "
        "`graphyard temporal setup`); false starts runs untagged.",
    )

    # Worker Deployment versioning (docs/deploy.md)
    deployment_name: str = Field(
        default="",
        description="The Temporal Worker Deployment this worker belongs to. Empty: an "
        "unversioned worker (any worker takes any task). Set: runs are pinned to the build "
        "they started on and new runs go to the deployment's current build.",
    )
    build_id: str = Field(
        default="",
        description="This worker's build within the deployment (a release tag, an image "
        "digest). Empty: a hash of the graph code files langgraph.json names and graphyard's "
        "version.",
    )
    deployment_bootstrap: bool = Field(
        default=False,
        description="Make this worker's build current if its deployment has no current build "
        "yet (a first rollout; compose). Later builds become current by `graphyard deploy "
        "set-current`, so a restarted worker of an older build never takes new runs back.",
    )
    worker_health_file: Path | None = Field(
        default=None,
        description="A file the worker touches every few seconds while it polls (an exec "
        "probe checks its age); removed when the worker stops.",
    )

    # Payload encryption (docs/secrets.md): the API and every worker share the keys.
    codec_keys: SecretStr | None = Field(
        default=None,
        description="Encrypt Temporal payloads (AES-256-GCM): `id:base64key,...` (32-byte "
        "keys). The first key encrypts, all decrypt: put a new key first to rotate. Unset "
        "(and no codec_key_file): payloads are stored as plain JSON.",
    )
    codec_key_file: Path | None = Field(
        default=None,
        description="A file holding the codec keys in the codec_keys format (one per line or "
        "comma-separated; a mounted secret); its keys come after codec_keys'.",
    )
    codec_endpoint: bool = Field(
        default=False,
        description="Serve the Temporal UI's codec endpoint at /codec/encode and "
        "/codec/decode (it decrypts payloads for whoever can call the API: protect the API).",
    )
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (comma-separated) allowed to call the codec endpoint from a "
        "browser: the Temporal UI's, e.g. http://localhost:8233.",
    )

    # Secrets in requests (docs/secrets.md)
    secret_check: bool = Field(
        default=True,
        description="Reject assistant, run and cron config/context/metadata values that look "
        "like secrets (422); secrets belong in the workers' environment.",
    )
    secret_check_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated key names (`session_token`) or dotted paths "
        "(`config.configurable.auth_header`) the secret check lets through.",
    )

    # Postgres
    database_uri: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_schema: str = "public"
    database_extensions_schema: str = Field(
        default="public",
        description="Where extensions graphyard uses live (pgvector, for store.index); "
        "connections search it after database_schema.",
    )
    pool_min_size: int = 1
    pool_max_size: int = 20
    pool_check_after: timedelta = Field(
        default=timedelta(seconds=0.5),
        description="A pooled connection idle this long is checked (an empty query) before "
        "use, so one left dead by a Postgres restart is replaced instead of failing a request.",
    )

    # Execution
    step_activity: StepActivityKind = Field(
        default="local",
        description="Run each super-step as a Temporal local activity (fast) or a regular one.",
    )
    step_timeout: timedelta = timedelta(minutes=10)
    step_heartbeat_timeout: timedelta = timedelta(seconds=5)
    step_max_attempts: int = 3
    step_initial_retry_interval: timedelta = timedelta(seconds=1)
    step_backoff_coefficient: float = 2.0
    workflow_task_timeout: timedelta = timedelta(seconds=5)
    # Histories stay bounded: a run continues as new after this many super-steps (a local step
    # adds about 2 history events, a regular one about 6), a thread's workflow after starting
    # this many runs; both also do when Temporal suggests it.
    # A live run's row untouched this long is checked against its workflow when read.
    reconcile_after: timedelta = timedelta(seconds=5)
    run_steps_per_history: int = Field(default=500, ge=1)
    thread_runs_per_history: int = Field(default=200, ge=1)
    # After a worker dies, its cached workflows' next tasks wait this long on its sticky queue
    # before any worker may take them (the SDK default is 10 s).
    sticky_schedule_to_start_timeout: timedelta = timedelta(seconds=3)

    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflow instances a worker keeps in memory (Temporal's sticky cache; the "
        "SDK default is 1000). A run waiting at an interrupt stays cached until evicted; an "
        "evicted run replays its history when it is resumed (docs/performance.md).",
    )

    # Webhooks: how runs started now deliver theirs (recorded in each run's history); the
    # secret is the workers' (they sign), the rest the API's (it starts the runs).
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signs every delivery (X-Graphyard-Signature); unset: deliveries are unsigned.",
    )
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_initial_retry_interval: timedelta = timedelta(seconds=1)
    webhook_backoff_coefficient: float = Field(default=2.0, ge=1)
    webhook_max_retry_interval: timedelta = timedelta(minutes=1)
    webhook_timeout: timedelta = Field(
        default=timedelta(seconds=10), description="One delivery attempt's HTTP timeout."
    )

    # API authentication (docs/auth.md). langgraph.json's ``auth.path`` (custom auth) is the
    # other way; with both, a request needs a valid key and passes the custom handler.
    api_keys: SecretStr | None = Field(
        default=None,
        description="API keys the API accepts in the x-api-key header, separated by commas or "
        "newlines, each `name:key` (the name is who the caller is; never the key) or a bare key "
        "(named by a short hash). Set: every request but /ok, /info, /docs and /metrics needs "
        "one.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file holding more API keys in the api_keys format, one per line "
        "(a mounted secret); `#` starts a comment.",
    )

    # API
    host: str = "127.0.0.1"
    port: int = 2024
    cors_config: CorsConfig | None = Field(
        default=None,
        description="CORS for every route, as JSON with the keys of langgraph.json's "
        "`http.cors` (which it replaces): an operator's override.",
    )
    cors_allow_origins: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Comma-separated origins allowed to call the API from a browser (default: "
        "every origin, without credentials). Ignored when a CORS config names allow_origins.",
    )
    cors_allow_private_network: bool = Field(
        default=False,
        description="Answer browsers' Private Network Access preflights (a page on a public "
        "site calling an API on localhost or a private address). `graphyard dev` turns it on.",
    )
    mount_prefix: str | None = Field(
        default=None,
        description="Serve the API under this path (`/my-api`); overrides `http.mount_prefix`.",
    )
    log_health_checks: bool = Field(
        default=False, description="Log a line for each request to /ok and / (health checks)."
    )
    wait_keepalive_seconds: float = 5.0
    # Request bodies (README "Limits"): refused at the edge, before anything is stored.
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="The largest request body the API reads (413 beyond).",
    )
    max_json_depth: int = Field(
        default=100,
        ge=1,
        le=200,
        description="How deeply a request body's JSON may nest (422 beyond). orjson and "
        "LangGraph's msgpack serializer stop at 255 levels; the margin is for what responses "
        "and graphs wrap around a value.",
    )

    # Streams
    stream_heartbeat_seconds: float = 5.0
    stream_send_timeout_seconds: float = Field(
        default=30.0, description="A stream client that takes no data for this long is dropped."
    )
    stream_retention: timedelta = Field(
        default=timedelta(days=1),
        description="How long a run's stream events stay replayable after they were written, "
        "and an ended stateless run's row (its result) after its thread went.",
    )
    stream_prune_interval: timedelta = timedelta(minutes=1)

    # Observability
    log_format: LogFormat = Field(
        default="text", description="`json`: one JSON object per line, with run_id/thread_id."
    )
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(
        default=None,
        description="Export traces by OTLP/HTTP to this collector (e.g. "
        "http://127.0.0.1:4318). Tracing is also on when OTEL_EXPORTER_OTLP_ENDPOINT or "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; off otherwise.",
    )
    service_name: str | None = Field(
        default=None,
        description="The traces' service.name (default OTEL_SERVICE_NAME, else "
        "graphyard-api / graphyard-worker).",
    )
    api_metrics: bool = Field(default=True, description="Serve Prometheus /metrics on the API.")
    metrics_host: str = Field(
        default="127.0.0.1", description="Where the worker's metrics ports listen."
    )
    worker_metrics_port: int | None = Field(
        default=None, description="Serve the worker's Prometheus metrics on this port."
    )
    temporal_metrics_port: int | None = Field(
        default=None,
        description="Serve the Temporal SDK's own Prometheus metrics (workflow tasks, "
        "activities, polls, RPCs) from this process on this port.",
    )

    @field_validator(
        "codec_cors_origins", "secret_check_allow", "cors_allow_origins", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("mount_prefix")
    @classmethod
    def _mount_prefix(cls, value: str | None) -> str | None:
        return mount_prefix(value)

    @field_validator("deployment_name")
    @classmethod
    def _deployment_name_has_no_dot(cls, value: str) -> str:
        # Temporal writes a version as "<deployment>.<build>" and splits it at the first dot.
        if "." in value or value != value.strip():
            raise ValueError(f"deployment_name {value!r} must not contain a dot or spaces")
        return value

    @field_validator("database_schema", "database_extensions_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str, info: ValidationInfo) -> str:
        # The schema goes into the connection's search_path: refuse anything but an identifier.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
            raise ValueError(f"{info.field_name} {value!r} must be a plain SQL identifier")
        return value
