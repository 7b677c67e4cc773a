"""The `ledgerql` command line: serve, migrate, export-schema, create-admin, seed-demo, verify."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from auth.admin import AdminSetupError, create_admin
from core.logging import configure_logging, get_logger
from core.settings import PROJECT_ROOT, Settings, describe_settings_error, get_settings
from db.migrations import upgrade_to_head
from db.session import Database, DatabaseUnavailable
from graph.app import build_auth_service
from graph.audit.commands import add_commands as add_audit_commands
from graph.demo import DEMO_PASSWORD, seed_demo
from graph.schema import build_schema

log = get_logger("ledgerql.cli")
SCHEMA_FILE = PROJECT_ROOT / "schema.graphql"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
WORKER_HEALTHCHECK_SECONDS = 30
"""How long uvicorn waits for a worker to answer its liveness ping before replacing it.

uvicorn's default, 5 s, also bounds a new worker's start-up (its answering thread starts once
the app is imported): on a loaded machine that takes longer, and every worker would be killed
and restarted in a loop, never serving.
"""


def schema_sdl(settings: Settings) -> str:
    """The schema in SDL, exactly as `schema.graphql` must hold it."""
    return build_schema(settings).as_str().rstrip("\n") + "\n"


async def _check_database(settings: Settings) -> None:
    database = Database(settings)
    try:
        await database.wait_until_reachable(
            settings.database_connect_attempts, settings.database_connect_retry_seconds
        )
    finally:
        await database.dispose()


def _prepare_database(settings: Settings, *, migrate: bool) -> None:
    if settings.is_sqlite:
        _ensure_sqlite_directory(settings.database_url)
    asyncio.run(_check_database(settings))
    if migrate:
        upgrade_to_head(settings.database_url)
        log.info("migrations_applied")


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def available_cores() -> int:
    """The CPU cores this process may use: its affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return min(cores, quota) if quota is not None else cores


def cgroup_cpu_quota(path: Path | None = None) -> int | None:
    """Whole CPUs a cgroup v2 quota grants (rounded up; e.g. `docker --cpus`), None without one.

    A container sees every core of its host in its affinity; only the quota tells its share.
    """
    try:
        fields = (path or CGROUP_CPU_MAX).read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """`--workers`, else one worker per core; one on SQLite.

    On SQLite live `auditEvents`, rate-limit counters and cost budgets are per process, so a
    second worker would split them: more than one there only when asked for.
    """
    if args.workers is not None:
        return int(args.workers)
    return 1 if settings.is_sqlite else available_cores()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = "must be at least 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Check the database, migrate if configured, then run uvicorn."""
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server

    from graph.http_server import GuardedHttpProtocol, raise_open_file_limit  # noqa: PLC0415

    _prepare_database(settings, migrate=settings.should_migrate_on_start)
    open_files = raise_open_file_limit()
    log.info("open_file_limit", soft=open_files, max_connections=settings.max_connections)
    workers = serve_workers(args, settings)
    log.info("serving", workers=workers)
    uvicorn.run(
        "graph.app:create_app",
        factory=True,
        http=GuardedHttpProtocol,  # header/body deadlines and MAX_CONNECTIONS
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        log_config=None,
        access_log=False,
        server_header=False,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_message_bytes,
        # Events are small JSON messages: compressing each frame cost W6's fan-out more CPU than
        # it saved, and compressing secrets beside attacker-chosen text is best avoided anyway.
        ws_per_message_deflate=False,
    )
    return 0


def cmd_migrate(_: argparse.Namespace, settings: Settings) -> int:
    """Upgrade the database to the latest migration."""
    _prepare_database(settings, migrate=True)
    return 0


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    """Write `schema.graphql`, or with --check fail when it is stale."""
    sdl = schema_sdl(settings)
    target = Path(args.output)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != sdl:
            print(f"{target} is stale: run `ledgerql export-schema`", file=sys.stderr)
            return 1
        return 0
    target.write_text(sdl, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Create or promote an admin; the password never comes from the command line."""
    _prepare_database(settings, migrate=settings.should_migrate_on_start)
    try:
        outcome = asyncio.run(
            create_admin(
                settings, build_auth_service(settings),
                username=args.username, email=args.email, full_name=args.full_name,
            )
        )  # fmt: skip
    except AdminSetupError as error:
        print(f"ledgerql: {error}", file=sys.stderr)
        return 1
    print(f"{args.username}: {outcome.value}")
    return 0


def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Fill the database with demo users, accounts, cards and transactions (not in production)."""
    if settings.app_env.is_deployed:
        print("ledgerql: seed-demo refuses to run in staging or production", file=sys.stderr)
        return 2
    _prepare_database(settings, migrate=settings.should_migrate_on_start)
    password = os.environ.get("LEDGERQL_DEMO_PASSWORD") or DEMO_PASSWORD
    report = asyncio.run(
        seed_demo(
            settings, build_auth_service(settings), users=args.users,
            operations=args.operations, password=password,
        )
    )  # fmt: skip
    print(
        f"demo users created: {report.users} (existing, skipped: {report.skipped}); "
        f"accounts: {report.accounts}; cards: {report.cards}; movements: {report.movements}"
    )
    if report.users:
        shown = "LEDGERQL_DEMO_PASSWORD" if password != DEMO_PASSWORD else f"'{DEMO_PASSWORD}'"
        print(f"sign in as demo1..demo{args.users} with the password {shown}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="ledgerql", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default=None, help="bind address (default: HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="worker processes (default: one per CPU core; one on SQLite)",
    )
    serve.set_defaults(handler=cmd_serve)
    migrate = commands.add_parser("migrate", help="upgrade the database to the latest migration")
    migrate.set_defaults(handler=cmd_migrate)
    export = commands.add_parser("export-schema", help="write the GraphQL SDL to a file")
    export.add_argument("--output", default=str(SCHEMA_FILE), help="target file")
    export.add_argument("--check", action="store_true", help="fail if the file is stale")
    export.set_defaults(handler=cmd_export_schema)
    admin = commands.add_parser(
        "create-admin",
        help="create or promote an admin (password from LEDGERQL_ADMIN_PASSWORD or a prompt)",
    )
    admin.add_argument("--username", required=True, help="the admin's username")
    admin.add_argument("--email", default=None, help="needed when the user does not exist yet")
    admin.add_argument("--full-name", default="", help="display name of a new admin")
    admin.set_defaults(handler=cmd_create_admin)
    demo = commands.add_parser(
        "seed-demo", help="add demo users with accounts and transactions (local use only)"
    )
    demo.add_argument("--users", type=int, default=5, help="demo users (demo1, demo2, ...)")
    demo.add_argument("--operations", type=int, default=400, help="movements per user")
    demo.set_defaults(handler=cmd_seed_demo)
    add_audit_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ledgerql` command."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"ledgerql: invalid configuration: {describe_settings_error(error)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json=settings.json_logs)
    try:
        return int(args.handler(args, settings))
    except DatabaseUnavailable as error:
        print(f"ledgerql: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
