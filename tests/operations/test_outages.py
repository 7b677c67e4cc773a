"""Outages: a stopped, locked, missing or saturated database is UNAVAILABLE (503), then recovers.

Each case checks `me`, `deposit`, `login` and `refreshToken` over HTTP: 503 with `Retry-After`,
error code UNAVAILABLE and no internals, readiness 503 within a second, and normal answers (with
nothing changed by the refused requests) once the database is back.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette

from auth.service import AuthService, Caller
from db.errors import Unavailable
from db.migrations import upgrade_to_head
from db.outages import as_unavailable, is_outage, outage_is_unavailable
from db.session import Database
from db.unit_of_work import UnitOfWork
from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import LOGIN, STRONG_PASSWORD, SignedIn, gql, login, signed_in
from tests.support.lifespan import app_lifespan
from tests.support.logs import capture_logs
from tests.support.money import MONEY, balance, customer, key
from tests.support.postgres import PostgresUnavailable, ThrowawayPostgres
from tests.support.ws import bearer, closed_with, live_app, open_as, run, send

ME = "{ me { username } }"
LOGOUT = "mutation { logout { revokedSessions } }"
DEPOSIT = f"""
mutation($input: MoneyMovementInput!) {{
  deposit(input: $input) {{ transaction {{ amount {{ {MONEY} }} }} errors {{ code }} }}
}}
"""
REFRESH = """
mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken } }
"""
INTERNALS = ("OperationalError", "sqlalchemy", "asyncpg", "sqlite", "Traceback", "QueuePool")


@asynccontextmanager
async def serving(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Starlette]:
    """The app on `database_url` with its lifespan running."""
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app_lifespan(app):
        yield app


@asynccontextmanager
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client for `app`."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
        yield client


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> httpx.Response:
    """POST one operation; returns the raw response."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def the_four(
    client: httpx.AsyncClient, user: SignedIn, account_id: str
) -> dict[str, httpx.Response]:
    """`me`, a deposit, a login and a token refresh."""
    deposit = {"input": {"accountId": account_id, "amount": 500, "idempotencyKey": key()}}
    login = {"input": {"username": user.username, "password": STRONG_PASSWORD}}
    return {
        "me": await post(client, ME, {}, user.access_token),
        "deposit": await post(client, DEPOSIT, deposit, user.access_token),
        "login": await post(client, LOGIN, login),
        "refresh": await post(client, REFRESH, {"input": {"refreshToken": user.refresh_token}}),
    }


def assert_unavailable(response: httpx.Response) -> None:
    """The whole request failed on an outage: 503, Retry-After, UNAVAILABLE, no internals."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert not any(body.get("data") or {}), body
    [error] = body["errors"]
    assert error["message"] == "The service is busy; try again shortly."
    assert {key: error["extensions"][key] for key in ("code", "status", "retryAfter")} == {
        "code": "UNAVAILABLE",
        "status": 503,
        "retryAfter": 1,
    }
    assert not any(word in response.text for word in INTERNALS), response.text


async def assert_recovered(client: httpx.AsyncClient, user: SignedIn, account_id: str) -> None:
    """Every one of the four answers normally again; the refused deposit changed nothing."""
    assert await balance(client, user, account_id) == 0
    responses = await the_four(client, user, account_id)
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        assert "errors" not in response.json(), (name, response.text)
    assert await balance(client, user, account_id) == 500
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text


async def assert_not_ready_within_a_second(client: httpx.AsyncClient, database: str) -> None:
    """Readiness answers 503 with Retry-After in under a second."""
    started = time.monotonic()
    response = await client.get("/health/ready")
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": database, "migrations": "unknown"},
    }
    assert elapsed < 1.0, elapsed


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[tuple[ThrowawayPostgres, str]]:
    """A PostgreSQL cluster of this module's own, migrated, that a test may stop and start."""
    if os.environ.get("TEST_POSTGRES_URL"):
        pytest.skip("stopping PostgreSQL needs the throwaway cluster, not TEST_POSTGRES_URL")
    try:
        cluster = ThrowawayPostgres()
        url = cluster.start()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL unavailable: {error}")
    try:
        upgrade_to_head(url)
        yield cluster, url
    finally:
        cluster.stop()


async def test_a_stopped_postgresql_is_unavailable_then_recovers_by_itself(
    own_postgres: tuple[ThrowawayPostgres, str], tmp_path: Path
) -> None:
    cluster, url = own_postgres
    async with serving(url, tmp_path) as app, http(app) as client:
        user, account_id = await customer(client)
        cluster.pause()
        try:
            with capture_logs() as logs:
                responses = await the_four(client, user, account_id)
                await assert_not_ready_within_a_second(client, "unreachable")
        finally:
            cluster.resume()
        for response in responses.values():
            assert_unavailable(response)
        assert logs.events("database_outage")
        assert not logs.events("graphql_unexpected_error")
        await assert_recovered(client, user, account_id)


async def terminate_pooled_connections(url: str) -> int:
    """End every backend of the app's pool from an admin connection; returns how many."""
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'ledgerql' AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


async def test_a_pooled_connection_found_dead_is_replaced_without_an_error(
    own_postgres: tuple[ThrowawayPostgres, str], tmp_path: Path
) -> None:
    cluster, url = own_postgres
    async with serving(url, tmp_path) as app, http(app) as client:
        user, _ = await customer(client, "kit")
        assert await terminate_pooled_connections(url) >= 1
        with capture_logs() as logs:
            replaced = await post(client, ME, {}, user.access_token)
            assert await terminate_pooled_connections(url) >= 1
            ready = await client.get("/health/ready")
        assert replaced.json()["data"] == {"me": {"username": "kit"}}, replaced.text
        assert "errors" not in replaced.json(), replaced.text
        assert ready.status_code == 200, ready.text
        # How asyncpg notices the ended backend varies (closed, or a failed read): one retry.
        assert len(logs.events("database_connection_replaced")) == 1
        assert not logs.events("database_outage")
        cluster.pause()  # really down: a fresh connection fails too
        try:
            refused = await post(client, ME, {}, user.access_token)
        finally:
            cluster.resume()
        assert_unavailable(refused)
        again = await post(client, ME, {}, user.access_token)
        assert again.json()["data"] == {"me": {"username": "kit"}}, again.text


async def test_a_frozen_postgresql_is_unavailable_within_the_command_timeout(
    own_postgres: tuple[ThrowawayPostgres, str], tmp_path: Path
) -> None:
    cluster, url = own_postgres
    limits = {"database_pool_timeout_seconds": 2, "database_command_timeout_seconds": 1}
    async with serving(url, tmp_path, **limits) as app, http(app) as client:
        user, account_id = await customer(client, "fay")
        cluster.freeze()  # open connections stay open, nothing answers
        try:
            await assert_not_ready_within_a_second(client, "timeout")
            started = time.monotonic()
            responses = await the_four(client, user, account_id)
            elapsed = time.monotonic() - started
        finally:
            cluster.thaw()
        for response in responses.values():
            assert_unavailable(response)
        assert elapsed < 4 * 5, elapsed  # each request gives up after about a second or two
        await assert_recovered(client, user, account_id)


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    """A migrated SQLite file in a directory of its own."""
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / "ledger.db"
    path.write_bytes(sqlite_template.read_bytes())
    return path


async def test_a_locked_sqlite_file_is_unavailable_not_internal(
    sqlite_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{sqlite_file}"
    async with serving(url, tmp_path, sqlite_busy_timeout_ms=100) as app, http(app) as client:
        user, account_id = await customer(client)
        holder = sqlite3.connect(sqlite_file, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # another process's writer, held past the timeout
            with capture_logs() as logs:
                responses = await the_four(client, user, account_id)
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        me = responses.pop("me")  # WAL: readers are not blocked by a writer
        assert me.status_code == 200, me.text
        assert me.json()["data"] == {"me": {"username": "ann"}}, me.text
        assert "errors" not in me.json(), me.text
        for response in responses.values():
            assert_unavailable(response)
        assert logs.events("database_outage")
        assert not logs.events("graphql_unexpected_error")
        await assert_recovered(client, user, account_id)


async def test_a_missing_sqlite_directory_is_unavailable_then_recovers(
    sqlite_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{sqlite_file}"
    async with serving(url, tmp_path) as app, http(app) as client:
        user, account_id = await customer(client)
        await app.state.database.dispose()  # open connections would keep the moved file
        moved = sqlite_file.parent.rename(tmp_path / "moved")
        try:
            responses = await the_four(client, user, account_id)
            await assert_not_ready_within_a_second(client, "unreachable")
        finally:
            moved.rename(sqlite_file.parent)
        for response in responses.values():
            assert_unavailable(response)
        await assert_recovered(client, user, account_id)


async def test_an_exhausted_pool_is_unavailable_within_the_pool_timeout(
    database_url: str, tmp_path: Path
) -> None:
    pool = {"database_pool_size": 1, "database_max_overflow": 0}
    async with (
        serving(database_url, tmp_path, **pool, database_pool_timeout_seconds=2) as app,
        http(app) as client,
    ):
        user, account_id = await customer(client)
        held = await app.state.database.engine.connect()  # the pool's only connection
        try:
            started = time.monotonic()
            responses = await the_four(client, user, account_id)
            elapsed = time.monotonic() - started
            await assert_not_ready_within_a_second(client, "timeout")
        finally:
            await held.close()
        for response in responses.values():
            assert_unavailable(response)
        assert elapsed < 4 * 2 + 2, elapsed  # each waits for the pool (2 s) once, no more
        await assert_recovered(client, user, account_id)


async def test_websocket_outages_answer_unavailable_and_close_with_try_again_later(
    database_url: str, tmp_path: Path
) -> None:
    pool = {"database_pool_size": 1, "database_max_overflow": 0}
    async with live_app(database_url, tmp_path, **pool, database_pool_timeout_seconds=0.5) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await open_as(live, ws, user.access_token)
            held = await live.database.engine.connect()  # the pool's only connection
            try:
                payload = await run(ws, "1", ME)
                async with live.connect() as refused:
                    await send(
                        refused, {"type": "connection_init", "payload": bearer(user.access_token)}
                    )
                    code, before = await closed_with(refused)
            finally:
                await held.close()
            [error] = payload["errors"]
            assert error["extensions"]["code"] == "UNAVAILABLE", payload
            assert error["extensions"]["retryAfter"] == 1
            assert (code, before) == (1013, [])  # try again later, not 4403 (credentials refused)
            assert (await run(ws, "2", ME))["data"] == {"me": {"username": "ann"}}


async def test_an_open_websocket_whose_session_cannot_be_checked_closes_with_try_again_later(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await open_as(live, ws, user.access_token)

            original = AuthService.authenticate

            async def down_for_the_guard(
                service: AuthService, uow: UnitOfWork, access_token: str
            ) -> Caller:
                if access_token == user.access_token:  # the connection's own token
                    raise Unavailable(1)
                return await original(service, uow, access_token)

            monkeypatch.setattr(AuthService, "authenticate", down_for_the_guard)
            other = await login(live.http, user.username, user.password)
            token = other["data"]["login"]["accessToken"]
            assert (await gql(live.http, LOGOUT, token=token))["data"]["logout"] == {
                "revokedSessions": 1
            }  # an event about the caller: the guard checks the session again
            code, _ = await closed_with(ws)
        assert code == 1013  # the session may be fine: try again later, not 4403 (revoked)


def _chained(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("unable to open database file"), True),
        (sqlite3.OperationalError("no such table: users"), False),
        (DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True), True),
        (DBAPIError("SELECT 1", None, Exception("syntax error")), False),
        (OperationalError("SELECT 1", None, asyncpg.exceptions.CannotConnectNowError()), True),
        (_chained(RuntimeError("wrapped"), ConnectionRefusedError()), True),
        (PoolTimeout(), True),
        (ValueError("bad input"), False),
    ],
)
def test_outages_are_told_apart_from_other_failures(error: BaseException, outage: bool) -> None:
    assert is_outage(error) is outage
    unavailable = as_unavailable(error)
    assert (unavailable is not None) is outage
    if unavailable is not None:
        assert (unavailable.code, unavailable.retry_after) == ("UNAVAILABLE", 1)


def test_the_outage_guard_passes_other_errors_and_unavailable_through_unchanged() -> None:
    refusal = Unavailable(7)
    with pytest.raises(Unavailable) as raised, outage_is_unavailable():
        raise refusal
    assert raised.value is refusal
    assert as_unavailable(refusal) is refusal
    with pytest.raises(ValueError, match="bad input"), outage_is_unavailable():
        raise ValueError("bad input")


async def test_a_postgresql_host_that_never_answers_is_unavailable_within_the_pool_timeout(
    tmp_path: Path,
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts the connection and never says a word

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{port}/nothing"
    database = Database(make_settings(url, tmp_path, database_pool_timeout_seconds=0.5))
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable):
            async with database.unit_of_work() as uow, uow.connection():
                pass  # pragma: no cover - never connects
    finally:
        await database.dispose()
        for writer in accepted:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 2.0  # not asyncpg's default of 60 s
