"""Sign-in names: unknown names lock like real ones; usernames are unique regardless of case."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from auth import service
from db.base import INCLUDE_DELETED, utcnow
from db.models import AuthSession, LoginThrottle, User
from db.services import identity as identity_service
from db.session import Database
from tests.identity.test_hashing_pool import gated_verify
from tests.support.identity import (
    REGISTER,
    STRONG_PASSWORD,
    count_bcrypt_checks,
    gql,
    login,
    register,
    signed_in,
)

WRONG = "Wrong-Passw0rd!"
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { user { username } errors { code message field } }
}
"""


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The only top-level error, without its request id (which differs every time)."""
    assert body["data"] is None, body
    [error] = body["errors"]
    extensions = {k: v for k, v in error["extensions"].items() if k != "requestId"}
    return {**error, "extensions": extensions}


async def test_an_unknown_name_is_locked_exactly_like_a_real_one(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "alice")
    frozen = utcnow()
    monkeypatch.setattr(service, "utcnow", lambda: frozen)
    checks = count_bcrypt_checks(monkeypatch)

    for name in ("alice", "ghost"):
        for _ in range(5):
            assert refusal(await login(client, name, WRONG))["extensions"]["code"] == (
                "INVALID_CREDENTIALS"
            )
    assert len(checks) == 10  # the unknown name's guesses cost a (dummy) hash check each

    real = refusal(await login(client, "alice", WRONG))
    unknown = refusal(await login(client, "ghost", WRONG))
    assert real == unknown
    assert real["extensions"]["code"] == "ACCOUNT_LOCKED"
    assert real["extensions"]["retryAfter"] == 901
    assert real["message"] == "The account is temporarily locked after too many failed logins."
    # The right password meets the same lock, and a locked name costs no hash check at all.
    assert refusal(await login(client, "alice", STRONG_PASSWORD)) == unknown
    assert refusal(await login(client, "GHOST", STRONG_PASSWORD)) == unknown
    assert len(checks) == 10

    async with database.unit_of_work() as uow, uow.read() as session:
        rows = (await session.execute(select(LoginThrottle).order_by(LoginThrottle.key))).scalars()
        stored = [(row.key, row.failures, row.locked_until) for row in rows]
    assert [(key, failures) for key, failures, _ in stored] == [
        ("name:alice", 5),
        ("name:ghost", 5),
    ]
    assert stored[0][2] == stored[1][2]


async def test_usernames_differing_only_by_case_are_one_account(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await register(client, "case35tb757yqu"))["errors"] == []
    variables = {"input": {"username": "CASE35TB757YQU", "email": "twin@example.com",
                           "password": STRONG_PASSWORD, "fullName": ""}}  # fmt: skip
    body = await gql(client, REGISTER, variables)
    assert body["data"]["register"] == {
        "user": None,
        "errors": [
            {
                "code": "CONFLICT",
                "message": "That username is already taken.",
                "field": ["input", "username"],
            }
        ],
    }
    async with database.unit_of_work() as uow, uow.read() as session:
        users = (await session.execute(select(User.username, User.username_key))).all()
    assert [tuple(row) for row in users] == [("case35tb757yqu", "case35tb757yqu")]
    # Sign-in finds the one account in any case.
    signed = await login(client, "Case35TB757YQU", STRONG_PASSWORD)
    assert signed["data"]["login"]["user"]["username"] == "case35tb757yqu"


async def test_a_profile_cannot_take_another_users_username_in_another_case(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "bob")
    carol = await signed_in(client, "carol")
    body = await gql(client, UPDATE_PROFILE, {"input": {"username": "BOB"}}, carol.access_token)
    assert body["data"]["updateProfile"] == {
        "user": None,
        "errors": [
            {
                "code": "CONFLICT",
                "message": "That username is already taken.",
                "field": ["input", "username"],
            }
        ],
    }
    # Changing the case of one's own username is allowed.
    body = await gql(client, UPDATE_PROFILE, {"input": {"username": "Carol"}}, carol.access_token)
    assert body["data"]["updateProfile"] == {"user": {"username": "Carol"}, "errors": []}


async def test_a_deleted_users_username_can_be_taken_again_in_any_case(
    client: httpx.AsyncClient, database: Database
) -> None:
    dave = await signed_in(client, "dave")
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.delete(transaction, dave.user_id)
    assert (await register(client, "DAVE", email="new-dave@example.com"))["errors"] == []
    statement = select(User.username, User.deleted_at.is_(None)).order_by(User.created_at)
    async with database.unit_of_work() as uow, uow.read() as session:
        rows = await session.execute(statement.execution_options(**{INCLUDE_DELETED: True}))
        assert [tuple(row) for row in rows] == [("dave", False), ("DAVE", True)]


async def test_a_lock_set_while_the_password_is_checked_wins_over_the_right_password(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "erin")
    with gated_verify(monkeypatch) as gate:
        attempt = asyncio.create_task(login(client, "erin", STRONG_PASSWORD))
        await gate.wait_for(1)
        # Meanwhile other attempts lock the name (written directly: they would wait at the gate).
        async with database.unit_of_work() as uow, uow.write() as session:
            now = utcnow()
            session.add(
                LoginThrottle(
                    key="name:erin", failures=5, locked_until=now + timedelta(seconds=900),
                    last_failed_at=now,
                )
            )  # fmt: skip
        gate.opened.set()
        body = await attempt
    assert refusal(body)["extensions"]["code"] == "ACCOUNT_LOCKED"
    async with database.unit_of_work() as uow, uow.read() as session:
        assert (await session.execute(select(func.count()).select_from(AuthSession))).scalar() == 0


async def test_failures_of_a_name_quiet_for_a_day_are_forgotten(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "fay")
    for name in ("fay", "ghost"):
        for _ in range(4):
            assert refusal(await login(client, name, WRONG))["extensions"]["code"] == (
                "INVALID_CREDENTIALS"
            )
    long_ago = utcnow() - timedelta(days=1, seconds=1)
    async with database.unit_of_work() as uow, uow.write() as session:
        for row in (await session.execute(select(LoginThrottle))).scalars():
            row.last_failed_at = long_ago
    # One more failure is the first of a new count, not the fifth: no lock.
    assert refusal(await login(client, "fay", WRONG))["extensions"]["code"] == (
        "INVALID_CREDENTIALS"
    )
    async with database.unit_of_work() as uow, uow.read() as session:
        rows = (await session.execute(select(LoginThrottle))).scalars()
        assert [(row.key, row.failures, row.locked_until) for row in rows] == [
            ("name:fay", 1, None)
        ]  # the unknown name's stale row was pruned as well
    assert "errors" not in await login(client, "fay", STRONG_PASSWORD)
