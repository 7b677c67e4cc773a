"""Password hashing never holds a database connection: a login storm cannot starve the pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from auth.passwords import PasswordHasher
from tests.support.apps import app_with, code_of
from tests.support.identity import STRONG_PASSWORD, gql, login, register, signed_in

WRONG = "Wrong-Passw0rd!"
HEALTH = "{ health { status database } }"
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { errors { code } } }
"""
# PostgreSQL gets a pool of two with no overflow, so that holding connections would show.
SMALL_POOL = {
    "database_pool_size": 2,
    "database_max_overflow": 0,
    "database_pool_timeout_seconds": 1,
}
WAITERS = 6


class Gate:
    """Holds every password check at the door until opened; counts who is waiting."""

    def __init__(self) -> None:
        self.waiting = 0
        self.opened = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        """Until `count` checks wait at the gate (at most 10 s)."""
        for _ in range(1000):
            if self.waiting >= count:
                return
            await asyncio.sleep(0.01)
        pytest.fail(f"only {self.waiting} of {count} password checks reached the hasher")


@contextmanager
def gated_verify(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """Make `PasswordHasher.verify` wait at a gate, as when every hashing slot is busy."""
    gate = Gate()
    original = PasswordHasher.verify

    async def verify(self: PasswordHasher, password: str, hashed: str | None) -> bool:
        gate.waiting += 1
        await gate.opened.wait()
        return await original(self, password, hashed)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    try:
        yield gate
    finally:
        gate.opened.set()


async def idle_in_transaction(database_url: str) -> int:
    """Connections of the application left idle inside a transaction (PostgreSQL)."""
    dsn = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'ledgerql' AND state LIKE 'idle in transaction%'"
        )
    finally:
        await connection.close()
    return count


async def assert_nothing_held_while_waiting(
    app: Starlette, client: httpx.AsyncClient, database_url: str, gate: Gate
) -> None:
    """With every attempt waiting for the hasher: no pooled connection out, health answers."""
    await gate.wait_for(WAITERS)
    assert app.state.database.engine.pool.checkedout() == 0
    if database_url.startswith("postgresql"):
        assert await idle_in_transaction(database_url) == 0
    health = await gql(client, HEALTH)
    assert "errors" not in health, health
    assert health["data"] == {"health": {"status": "OK", "database": True}}


async def storm(
    attempt: Callable[[], Awaitable[dict[str, Any]]], count: int
) -> list[asyncio.Task[dict[str, Any]]]:
    """Start `count` attempts at once."""
    return [asyncio.create_task(attempt()) for _ in range(count)]


async def test_logins_waiting_for_a_hashing_slot_hold_no_connection(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with(database_url, tmp_path, **SMALL_POOL) as (client, app):
        await register(client, "ann")
        with gated_verify(monkeypatch) as gate:
            names = iter(["ann", "ghost"] * (WAITERS // 2))  # a real and an unknown user alike
            attempts = await storm(lambda: login(client, next(names), WRONG), WAITERS)
            await assert_nothing_held_while_waiting(app, client, database_url, gate)
            gate.opened.set()
            codes = [code_of(await attempt) for attempt in attempts]
        assert codes == ["INVALID_CREDENTIALS"] * WAITERS
        assert "errors" not in await login(client, "ann", STRONG_PASSWORD)


async def test_password_changes_waiting_for_a_hashing_slot_hold_no_connection(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with(database_url, tmp_path, **SMALL_POOL) as (client, app):
        user = await signed_in(client, "ann")
        variables = {"input": {"currentPassword": WRONG, "newPassword": "N3w!Passw0rd-x"}}
        with gated_verify(monkeypatch) as gate:
            attempts = await storm(
                lambda: gql(client, CHANGE_PASSWORD, variables, token=user.access_token), WAITERS
            )
            await assert_nothing_held_while_waiting(app, client, database_url, gate)
            gate.opened.set()
            bodies = [await attempt for attempt in attempts]
        for body in bodies:
            assert body["data"]["changePassword"]["errors"] == [{"code": "VALIDATION_FAILED"}]
