"""The `ledgerql` command: serve, migrate, export-schema; start-up and shutdown behaviour."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from db.repositories import identity as identity_repo
from db.session import Database
from graph.app import build_auth_service
from graph.cli import SCHEMA_FILE, main, schema_sdl
from tests.conftest import TEST_SECRET, make_settings
from tests.support.identity import register_directly
from tests.support.processes import CliResult, free_port, run_cli, running_server, server_env


@pytest.mark.slow
def test_serve_answers_graphql_and_stops_cleanly_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    log_file = tmp_path / "server.log"
    with running_server(server_env(database_url, tmp_path), log_file) as (process, base):
        response = httpx.post(f"{base}/graphql", json={"query": "{ health { status database } }"})
        assert response.json()["data"] == {"health": {"status": "OK", "database": True}}
        assert httpx.get(f"{base}/health/ready").status_code == 200
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM once its graceful shutdown is done.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    output = log_file.read_text()
    assert '"event": "shutdown_complete"' in output
    assert TEST_SECRET not in output


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_graceful_shutdown_finishes_the_request_in_flight(
    database_url: str, tmp_path: Path
) -> None:
    with running_server(server_env(database_url, tmp_path), tmp_path / "server.log") as (
        process,
        base,
    ):
        port = int(base.rsplit(":", 1)[1])
        body = b'{"query": "{ health { status } }"}'
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            headers = (
                "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(headers.encode() + body[:10])
            time.sleep(0.3)  # the request is now in flight, its body half sent
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            sock.sendall(body[10:])
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b'"status":"OK"' in reply
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_serve_declines_websocket_compression(database_url: str, tmp_path: Path) -> None:
    """Offered permessage-deflate, the server upgrades without it (each frame goes out as is)."""
    with running_server(server_env(database_url, tmp_path), tmp_path / "server.log") as (_, base):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"GET /graphql HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n"
                b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            )
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(4096)
    head = reply.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 101"), head
    assert "sec-websocket-protocol: graphql-transport-ws" in head
    assert "sec-websocket-extensions" not in head


def test_serve_exits_non_zero_with_a_clear_message_when_the_database_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = server_env(
        "postgresql+asyncpg://nobody:topsecret@127.0.0.1:9/ledgerql",
        tmp_path,
        DATABASE_CONNECT_ATTEMPTS="2",
        DATABASE_CONNECT_RETRY_SECONDS="0.05",
    )
    result = run_cli(monkeypatch, capsys, env, "serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "unreachable after 2 attempts" in result.stderr
    assert "Traceback" not in result.stderr
    assert "topsecret" not in result.stderr + result.stdout


def test_invalid_configuration_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = server_env(
        "sqlite+aiosqlite:///" + str(tmp_path / "x.db"), tmp_path, APP_ENV="production"
    )
    env["JWT_SECRET"] = "too-short-secret"
    result = run_cli(monkeypatch, capsys, env, "serve")
    assert result.returncode == 2
    assert "JWT_SECRET is missing or shorter than 32 bytes" in result.stderr
    assert "too-short-secret" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_the_committed_schema_file_is_current() -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", Path("unused"))
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(settings)


def test_export_schema_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("DEV_SECRET_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    target = tmp_path / "schema.graphql"
    target.write_text("type Query { stale: Int }\n")
    assert main(["export-schema", "--check", "--output", str(target)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert main(["export-schema", "--output", str(target)]) == 0
    assert main(["export-schema", "--check", "--output", str(target)]) == 0
    assert target.read_text() == SCHEMA_FILE.read_text()
    get_settings.cache_clear()


def test_migrate_creates_and_upgrades_a_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nested" / "ledger.db"
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("DEV_SECRET_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    assert path.exists()


def test_create_admin_creates_then_is_idempotent_and_never_takes_the_password_as_argument(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = server_env(database_url, tmp_path, LEDGERQL_ADMIN_PASSWORD="Adm1n!Sufficiently-Long")
    env["BCRYPT_ROUNDS"] = "4"
    command = ["create-admin", "--username", "root", "--email", "Root@Example.com"]

    def run(environment: dict[str, str], *argv: str) -> CliResult:
        return run_cli(monkeypatch, capsys, environment, *(argv or command))

    first = run(env)
    assert (first.returncode, first.stdout.strip()) == (0, "root: created"), first.stderr
    again = run(env)
    assert (again.returncode, again.stdout.strip()) == (0, "root: already an admin")
    assert "Adm1n!Sufficiently-Long" not in first.stdout + first.stderr

    no_password = {key: value for key, value in env.items() if key != "LEDGERQL_ADMIN_PASSWORD"}
    refused = run(no_password, "create-admin", "--username", "other", "--email", "o@example.com")
    assert refused.returncode == 1
    assert "LEDGERQL_ADMIN_PASSWORD" in refused.stderr

    with_password_flag = run(env, *command, "--password", "x")
    assert with_password_flag.returncode == 2  # argparse: no such option

    weak = dict(env, LEDGERQL_ADMIN_PASSWORD="short")
    rejected = run(weak, "create-admin", "--username", "weakling", "--email", "w@example.com")
    assert rejected.returncode == 1
    assert "at least 8 characters" in rejected.stderr

    common = dict(env, LEDGERQL_ADMIN_PASSWORD="Password123!")
    rejected = run(common, "create-admin", "--username", "weakling", "--email", "w@example.com")
    assert rejected.returncode == 1
    assert "is a common password with only digits" in rejected.stderr


async def test_create_admin_promotes_an_existing_user(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(database_url, tmp_path)
    database = Database(settings)
    try:
        async with database.unit_of_work() as uow:
            user = await register_directly(
                build_auth_service(settings), uow, "someone", email="someone@example.com",
                password="Plain!User-Passw0rd", full_name="",
            )  # fmt: skip
        env = server_env(database_url, tmp_path)  # no LEDGERQL_ADMIN_PASSWORD: none is needed
        for expected in ("someone: promoted", "someone: already an admin"):
            result = await asyncio.to_thread(
                run_cli, monkeypatch, capsys, env, "create-admin", "--username", "someone"
            )
            assert (result.returncode, result.stdout.strip()) == (0, expected), result.stderr
        async with database.unit_of_work() as uow, uow.read() as session:
            promoted = await identity_repo.get_user(session, user.id)
        assert promoted is not None
        assert promoted.is_admin
    finally:
        await database.dispose()
