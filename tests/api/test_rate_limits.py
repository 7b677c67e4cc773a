"""Rate limits: counted per field execution, by username, address, session or user; shared on PG."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.settings import RateLimitBackend, Settings
from db import rate_limits
from db.base import utcnow
from db.errors import Unavailable
from db.rate_limits import Counters, DatabaseCounters, Limit, MemoryCounters
from db.session import Database
from graph.app import build_rate_limits, create_app
from tests.conftest import make_settings
from tests.support.identity import STRONG_PASSWORD, gql, login, register, signed_in
from tests.support.lifespan import app_lifespan
from tests.support.processes import running_server, server_env

LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken } }
"""
REFRESH = """
mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { refreshToken } }
"""
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { errors { code } } }
"""


@asynccontextmanager
async def limited_client(
    database_url: str, tmp_path: Path, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app with the given rate-limit settings."""
    app = create_app(make_settings(database_url, tmp_path, **limits))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def code_of(body: dict[str, Any]) -> str | None:
    """The code of the first top-level error, if any."""
    errors = body.get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code


async def test_login_attempts_per_username_are_limited_with_429_and_retry_after(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_login="3/900") as client:
        await register(client, "ann")
        for _ in range(3):
            assert code_of(await login(client, "ann", "Wrong-passw0rd!")) == "INVALID_CREDENTIALS"
        response = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"input": {
                "username": "ANN", "password": STRONG_PASSWORD}}},
        )  # fmt: skip
        body = response.json()
        assert code_of(body) == "RATE_LIMITED", body
        retry_after = body["errors"][0]["extensions"]["retryAfter"]
        assert 890 <= retry_after <= 900
        assert response.status_code == 429
        assert response.headers["retry-after"] == str(retry_after)


async def test_aliased_logins_in_one_document_count_one_attempt_each(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_login="3/900") as client:
        await register(client, "ann")
        fields = " ".join(
            f'a{n}: login(input: {{username: "ann", password: "{STRONG_PASSWORD}"}}) '
            "{ accessToken }"
            for n in range(2)
        )
        body = await gql(client, f"mutation {{ {fields} }}")
        assert set(body["data"]) == {"a0", "a1"}, body
        assert "errors" not in await login(client, "ann", STRONG_PASSWORD)  # the third attempt
        assert code_of(await login(client, "ann", STRONG_PASSWORD)) == "RATE_LIMITED"
        # A failing login nulls the whole mutation result, so later aliases never run at all.
        wrong = " ".join(
            f'w{n}: login(input: {{username: "bob", password: "Wrong-{n}-passw0rd!"}}) '
            "{ accessToken }"
            for n in range(5)
        )
        refused = await gql(client, f"mutation {{ {wrong} }}")
        assert refused["data"] is None
        assert len(refused["errors"]) == 1


async def test_failed_login_attempts_per_address_count_across_usernames(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_login_failures="3/900") as client:
        await register(client, "ann")
        for _ in range(4):  # successes are not counted against the address
            assert "errors" not in await login(client, "ann", STRONG_PASSWORD)
        for name in ("u1", "u2", "ann"):
            assert code_of(await login(client, name, "Wrong-passw0rd!")) == "INVALID_CREDENTIALS"
        assert code_of(await login(client, "u4", "Wrong-passw0rd!")) == "RATE_LIMITED"
        assert code_of(await login(client, "ann", STRONG_PASSWORD)) == "RATE_LIMITED"


async def test_concurrent_wrong_logins_cannot_outrun_the_per_address_failure_limit(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_login_failures="3/900") as client:
        attempts = [login(client, f"sprayed{n}", "Wrong-passw0rd!") for n in range(10)]
        codes = sorted(str(code_of(body)) for body in await asyncio.gather(*attempts))
        # Each attempt takes its unit before its password is checked: 3 checked, 7 refused.
        assert codes == ["INVALID_CREDENTIALS"] * 3 + ["RATE_LIMITED"] * 7


DEFAULT_LIMITS = {
    name: Settings.model_fields[name].default
    for name in ("rate_limit_login", "rate_limit_login_failures", "rate_limit_register")
}


async def test_with_the_default_limits_twenty_people_behind_one_address_register_and_sign_in(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, **DEFAULT_LIMITS) as client:
        for n in range(20):
            payload = await register(client, f"colleague{n}")
            assert payload["errors"] == [], payload
        for n in range(20):
            body = await login(client, f"colleague{n}", STRONG_PASSWORD)
            assert "errors" not in body, body
            assert body["data"]["login"]["accessToken"]


async def test_with_the_default_limits_one_address_spraying_many_usernames_is_stopped(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, **DEFAULT_LIMITS) as client:
        await register(client, "target")
        codes = [code_of(await login(client, f"user{n}", "Wrong-passw0rd!")) for n in range(20)]
        assert codes == ["INVALID_CREDENTIALS"] * 20
        refused = await login(client, "user20", "Wrong-passw0rd!")
        assert code_of(refused) == "RATE_LIMITED"
        assert 890 <= refused["errors"][0]["extensions"]["retryAfter"] <= 900
        # The address is refused before any password is checked, the right one included.
        assert code_of(await login(client, "target", STRONG_PASSWORD)) == "RATE_LIMITED"


async def test_registrations_per_address_are_limited_and_the_refused_one_creates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_register="2/3600") as client:
        await register(client, "one")
        await register(client, "two")
        variables = {"input": {"username": "three", "email": "three@example.com",
                               "password": STRONG_PASSWORD, "fullName": ""}}  # fmt: skip
        body = await gql(
            client,
            "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
            variables,
        )
        assert code_of(body) == "RATE_LIMITED"
        assert code_of(await login(client, "three", STRONG_PASSWORD)) == "INVALID_CREDENTIALS"


async def test_refreshes_per_session_are_limited(database_url: str, tmp_path: Path) -> None:
    async with limited_client(database_url, tmp_path, rate_limit_refresh="2/3600") as client:
        user = await signed_in(client, "ann")
        token = user.refresh_token
        for _ in range(2):
            body = await gql(client, REFRESH, {"input": {"refreshToken": token}})
            token = body["data"]["refreshToken"]["refreshToken"]
        refused = await gql(client, REFRESH, {"input": {"refreshToken": token}})
        assert code_of(refused) == "RATE_LIMITED"
        other = await signed_in(client, "bob")  # another session is counted on its own
        body = await gql(client, REFRESH, {"input": {"refreshToken": other.refresh_token}})
        assert "errors" not in body, body


async def test_password_changes_per_user_are_limited(database_url: str, tmp_path: Path) -> None:
    async with limited_client(
        database_url, tmp_path, rate_limit_password_change="1/3600"
    ) as client:
        user = await signed_in(client, "ann")
        wrong = {"input": {"currentPassword": "Not-the-passw0rd!", "newPassword": "N3w!Passw0rd-x"}}
        first = await gql(client, CHANGE_PASSWORD, wrong, token=user.access_token)
        assert first["data"]["changePassword"]["errors"][0]["code"] == "VALIDATION_FAILED"
        second = await gql(client, CHANGE_PASSWORD, wrong, token=user.access_token)
        assert code_of(second) == "RATE_LIMITED"


@pytest.mark.parametrize("kind", ["memory", "database"])
async def test_a_window_refuses_beyond_its_limit_and_starts_again_when_it_ends(
    database: Database, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters: Counters = MemoryCounters() if kind == "memory" else DatabaseCounters(database)
    limit = Limit.parse("2/60")
    start = utcnow()
    monkeypatch.setattr(rate_limits, "utcnow", lambda: start)
    decisions = [await counters.hit("k", limit) for _ in range(3)]
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert decisions[2].retry_after == 60
    assert (await counters.hit("other", limit)).allowed
    monkeypatch.setattr(rate_limits, "utcnow", lambda: start + timedelta(seconds=45))
    assert (await counters.hit("k", limit)).retry_after == 15
    monkeypatch.setattr(rate_limits, "utcnow", lambda: start + timedelta(seconds=61))
    again = await counters.hit("k", limit)
    assert again.allowed
    assert again.retry_after == 60


def test_the_backend_is_shared_on_postgresql_and_in_memory_on_sqlite(tmp_path: Path) -> None:
    sqlite = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path)
    postgres = make_settings("postgresql+asyncpg://u:p@localhost/x", tmp_path)
    assert isinstance(build_rate_limits(sqlite, Database(sqlite)), MemoryCounters)
    assert isinstance(build_rate_limits(postgres, Database(postgres)), DatabaseCounters)
    chosen = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path,
        rate_limit_backend=RateLimitBackend.DATABASE,
    )  # fmt: skip
    assert isinstance(build_rate_limits(chosen, Database(chosen)), DatabaseCounters)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_login_limit_holds_across_two_server_processes(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path, RATE_LIMIT_LOGIN="4/900")
    with (
        running_server(env, tmp_path / "a.log") as (_, base_a),
        running_server(env, tmp_path / "b.log") as (_, base_b),
    ):
        async with (
            httpx.AsyncClient(base_url=base_a) as instance_a,
            httpx.AsyncClient(base_url=base_b) as instance_b,
        ):
            codes = [
                code_of(await login(instance, "ghost", "Wrong-passw0rd!"))
                for instance in (instance_a, instance_b, instance_a, instance_b)
            ]
            assert codes == ["INVALID_CREDENTIALS"] * 4
            assert code_of(await login(instance_a, "ghost", "Wrong-passw0rd!")) == "RATE_LIMITED"
            assert code_of(await login(instance_b, "ghost", "Wrong-passw0rd!")) == "RATE_LIMITED"


async def test_a_database_counter_without_a_free_connection_is_unavailable_not_internal(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection() -> None:
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(database, "write_session", no_connection)
    with pytest.raises(Unavailable) as refused:
        await DatabaseCounters(database).hit("k", Limit.parse("2/60"))
    assert (refused.value.code, refused.value.retry_after) == ("UNAVAILABLE", 1)
