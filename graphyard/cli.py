"""``graphyard dev | api | worker | migrate | temporal setup | deploy status|set-current|ramp|
rollback | runs dead | runs retry RUN_ID | codec new-key ID``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphyard.config import Settings

from graphyard.errors import ConfigError, DeployError


def _settings(args: argparse.Namespace) -> Settings:
    from graphyard.config import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "config", None):
        overrides["config_path"] = Path(args.config)
    for key in ("host", "port"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    return Settings(**overrides)


def _dev(args: argparse.Namespace) -> int:
    from graphyard.devstack.ports import PortInUseError
    from graphyard.devstack.supervisor import DevOptions, run_dev

    options = DevOptions(
        config=Path(args.config or "langgraph.json"),
        host=args.host or "127.0.0.1",
        port=args.port or 2024,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        ui=not args.no_ui,
        **({"workers": args.workers} if args.workers else {}),
    )
    try:
        return run_dev(options)
    except PortInUseError as exc:
        print(f"graphyard: {exc}", file=sys.stderr)
        return 2


def _api(args: argparse.Namespace) -> int:
    from graphyard.api.server import serve

    serve(_settings(args))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from graphyard.worker import serve

    asyncio.run(serve(_settings(args)))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from graphyard.graphs import load_config
    from graphyard.storage.migrate import migrate

    settings = _settings(args)
    # Without langgraph.json the store gets no vector table; the API or a worker adds it later.
    store = (
        load_config(settings.config_path).project.store if settings.config_path.exists() else None
    )
    asyncio.run(migrate(settings, store))
    return 0


def _temporal_setup(args: argparse.Namespace) -> int:
    """Register graphyard's search attributes in the namespace (idempotent)."""
    from graphyard.temporal import connect, setup_search_attributes
    from graphyard.types import SEARCH_ATTRIBUTES

    settings = _settings(args)

    async def setup() -> list[str]:
        client = await connect(settings)
        return await setup_search_attributes(client, settings.temporal_namespace)

    added = asyncio.run(setup())
    where = f"namespace {settings.temporal_namespace} on {settings.temporal_address}"
    names = ", ".join(key.name for key in SEARCH_ATTRIBUTES)
    if added:
        print(f"registered search attributes {', '.join(added)} (Keyword) in {where}")
    else:
        print(f"search attributes {names} already registered in {where}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    """Worker Deployment versioning: where new runs go, and what the older builds still hold.
    Ends the process (see below)."""
    from graphyard.deploy import Deployer, render, require_deployment
    from graphyard.temporal import connect

    overrides = {
        "temporal_address": args.address,
        "temporal_namespace": args.namespace,
        "task_queue": args.task_queue,
        "deployment_name": args.deployment,
    }
    settings = _settings(args).model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )

    async def run() -> str:
        require_deployment(settings.deployment_name)
        try:
            client = await connect(settings)
        except RuntimeError as exc:  # the SDK's "Failed client connect: ..."
            raise DeployError(
                f"cannot reach Temporal at {settings.temporal_address}: {exc}"
            ) from exc
        deployer = Deployer(
            client, settings.temporal_namespace, settings.deployment_name, settings.task_queue
        )
        if args.action == "status":
            return render(await deployer.status())
        if args.action == "set-current":
            return await deployer.set_current(args.build)
        if args.action == "ramp":
            return await deployer.ramp(args.build, args.percent)
        return await deployer.rollback()

    code = 0
    try:
        print(asyncio.run(run()))
    except DeployError as exc:
        print(f"graphyard: {exc.detail}", file=sys.stderr)
        code = 1
    # A short-lived process that used a Temporal client may abort in interpreter teardown
    # ("PyGILState_Release", temporalio/sdk-python#300), failing a rollout script that
    # succeeded: leave without the teardown once the output is out.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _runs(args: argparse.Namespace) -> int:
    """The dead-letter queue, through the API (as an operator's script would use it)."""
    import json

    from langgraph_sdk import get_sync_client
    from langgraph_sdk.errors import APIError

    client = get_sync_client(url=args.url, api_key=None)
    try:
        if args.action == "dead":
            params = {"limit": args.limit, **({"graph_id": args.graph} if args.graph else {})}
            for run in client.http.get("/runs/dead", params=params):
                error = run.get("error") or {}
                attempts = error.get("attempts")
                print(
                    f"{run['run_id']}  thread {run['thread_id']}  {run['updated_at']}  "
                    f"{error.get('error')}: {error.get('message')}"
                    + (f"  (step {error.get('step')}, {attempts} attempts)" if attempts else "")
                )
            return 0
        run = client.http.post(f"/runs/{args.run_id}/retry", json=None)
        print(json.dumps({"run_id": run["run_id"], "status": run["status"]}))
        return 0
    except APIError as exc:
        print(f"graphyard: {exc}", file=sys.stderr)
        return 1


def _codec_new_key(args: argparse.Namespace) -> int:
    from graphyard.codec import new_key_line

    if not args.key_id.strip() or any(c in args.key_id for c in ":,\n"):
        print("graphyard: a key id must be non-empty, without ':' or ','", file=sys.stderr)
        return 2
    print(new_key_line(args.key_id.strip()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphyard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run Postgres, Temporal, the API and a worker locally")
    dev.add_argument("--config", help="langgraph.json (default ./langgraph.json)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=2024)
    dev.add_argument("--data-dir", help="default: .graphyard beside the config")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--no-ui", action="store_true", help="do not serve the Temporal Web UI")
    dev.add_argument(
        "--workers", type=int, help="worker processes (default: one per core, at most 4)"
    )
    dev.set_defaults(handler=_dev)

    for name, handler, text in (
        ("api", _api, "serve the HTTP API (GRAPHYARD_* settings)"),
        ("worker", _worker, "run a Temporal worker (GRAPHYARD_* settings)"),
        ("migrate", _migrate, "apply database migrations"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", help="langgraph.json (overrides GRAPHYARD_CONFIG_PATH)")
        if name == "api":
            command.add_argument("--host")
            command.add_argument("--port", type=int)
        command.set_defaults(handler=handler)
    temporal = sub.add_parser("temporal", help="prepare a Temporal cluster for graphyard")
    temporal_actions = temporal.add_subparsers(dest="action", required=True)
    setup = temporal_actions.add_parser(
        "setup",
        help="register the search attributes ThreadId, AssistantId, GraphId and RunStatus "
        "(Keyword) in GRAPHYARD_TEMPORAL_NAMESPACE; idempotent",
    )
    setup.set_defaults(handler=_temporal_setup)
    _add_deploy(sub)
    codec = sub.add_parser("codec", help="payload encryption keys (docs/secrets.md)")
    codec_actions = codec.add_subparsers(dest="action", required=True)
    new_key = codec_actions.add_parser(
        "new-key", help="print a new `id:base64key` entry for GRAPHYARD_CODEC_KEYS"
    )
    new_key.add_argument("key_id", help="the key's id (stored in each payload it encrypts)")
    new_key.set_defaults(handler=_codec_new_key)
    runs = sub.add_parser("runs", help="dead runs: list them, run one again")
    runs.add_argument(
        "--url",
        default=os.environ.get("GRAPHYARD_URL", "http://127.0.0.1:2024"),
        help="the API (default $GRAPHYARD_URL or http://127.0.0.1:2024)",
    )
    actions = runs.add_subparsers(dest="action", required=True)
    dead = actions.add_parser("dead", help="runs that ended in error, newest first")
    dead.add_argument("--graph", help="only this graph's runs")
    dead.add_argument("--limit", type=int, default=20)
    retry = actions.add_parser("retry", help="run a dead run again from its last checkpoint")
    retry.add_argument("run_id")
    runs.set_defaults(handler=_runs)
    return parser


def _add_deploy(sub: Any) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--deployment", help="default $GRAPHYARD_DEPLOYMENT_NAME")
    where.add_argument("--address", help="Temporal, default $GRAPHYARD_TEMPORAL_ADDRESS")
    where.add_argument("--namespace", help="default $GRAPHYARD_TEMPORAL_NAMESPACE")
    where.add_argument("--task-queue", help="default $GRAPHYARD_TASK_QUEUE (worker counts)")
    deploy = sub.add_parser(
        "deploy", help="versioned rollouts: builds, where new runs go, rollback"
    )
    actions = deploy.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "status",
        parents=[where],
        help="each build: current, ramping (with its share), draining, drained or inactive; "
        "its open runs and workers",
    )
    current = actions.add_parser(
        "set-current",
        parents=[where],
        help="new runs go to BUILD; runs of the previous build finish there",
    )
    current.add_argument("build")
    ramp = actions.add_parser(
        "ramp", parents=[where], help="send PERCENT %% of new runs to BUILD (0 to 100)"
    )
    ramp.add_argument("build")
    ramp.add_argument("percent", type=float)
    actions.add_parser(
        "rollback",
        parents=[where],
        help="stop a ramp in progress; without one, make the previous current build current",
    )
    deploy.set_defaults(handler=_deploy)


def main(argv: list[str] | None = None) -> int:
    from graphyard.config import Settings
    from graphyard.telemetry import logs

    logs.configure(Settings())
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"graphyard: {exc.detail}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
