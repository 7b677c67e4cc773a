"""Lockout after repeated failures, and deactivated, deleted or locked users losing access."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from db.base import INCLUDE_DELETED, utcnow
from db.models import AuthSession, LoginThrottle, User
from db.services import identity as identity_service
from db.session import Database
from tests.support.identity import STRONG_PASSWORD, gql, login, register, signed_in

WRONG = "Wrong-Passw0rd!"
ME = "{ me { id username } }"
REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken expiresIn }
}
"""


def error_code(body: dict[str, Any]) -> str:
    assert "errors" in body, body
    [error] = body["errors"]
    code: str = error["extensions"]["code"]
    return code


async def user_row(database: Database, username: str) -> User:
    statement = select(User).where(User.username == username)
    async with database.unit_of_work() as uow, uow.read() as session:
        result = await session.execute(statement.execution_options(**{INCLUDE_DELETED: True}))
        return result.scalar_one()


async def set_columns(database: Database, user_id: uuid.UUID, **values: Any) -> None:
    async with database.unit_of_work() as uow, uow.write() as session:
        statement = update(User).where(User.id == user_id).values(**values)
        await session.execute(statement.execution_options(synchronize_session=False))


async def expire_lock(database: Database, key: str) -> None:
    """End the lock of a sign-in name (`name:<username>` or `email:<email>`) a second ago."""
    async with database.unit_of_work() as uow, uow.write() as session:
        statement = update(LoginThrottle).where(LoginThrottle.key == key)
        values = {"locked_until": utcnow() - timedelta(seconds=1)}
        await session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )


async def fail_logins(client: httpx.AsyncClient, username: str, times: int) -> None:
    for _ in range(times):
        assert error_code(await login(client, username, WRONG)) == "INVALID_CREDENTIALS"


async def test_five_failures_lock_the_account_even_for_the_right_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "henry")
    await fail_logins(client, "henry", 5)

    body = await login(client, "henry", STRONG_PASSWORD)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == ("The account is temporarily locked after too many failed logins.")
    assert error["extensions"]["code"] == "ACCOUNT_LOCKED"
    assert error["extensions"]["status"] == 423
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 1 < retry_after <= 900

    # A wrong password during the lock is refused the same way, in any case or width.
    assert error_code(await login(client, "henry", WRONG)) == "ACCOUNT_LOCKED"
    assert error_code(await login(client, "HENRY", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"
    assert error_code(await login(client, "\uff48enry", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"
    row = await user_row(database, "henry")
    assert row.failed_login_count == 5
    assert row.locked_until is not None
    remaining = (row.locked_until - utcnow()).total_seconds()
    assert 890 < remaining <= 900
    assert row.last_login_at is None

    # The email is another sign-in name, counted on its own: the owner still gets in with it,
    # and that does not lift the lock of the username.
    assert "errors" not in await login(client, "Henry@Example.com", STRONG_PASSWORD)
    assert error_code(await login(client, "henry", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"


async def test_four_failures_do_not_lock(client: httpx.AsyncClient) -> None:
    await register(client, "irene")
    await fail_logins(client, "irene", 4)
    assert "errors" not in await login(client, "irene", STRONG_PASSWORD)


async def test_a_successful_login_resets_the_failure_count(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "jack")
    await fail_logins(client, "jack", 4)
    assert "errors" not in await login(client, "jack", STRONG_PASSWORD)
    assert (await user_row(database, "jack")).failed_login_count == 0
    await fail_logins(client, "jack", 4)  # 8 failures in all, never 5 in a row
    assert "errors" not in await login(client, "jack", STRONG_PASSWORD)
    await fail_logins(client, "jack", 5)
    assert error_code(await login(client, "jack", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"


async def test_an_expired_lock_lets_the_right_password_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "kate")
    await fail_logins(client, "kate", 5)
    assert error_code(await login(client, "kate", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"
    await expire_lock(database, "name:kate")

    body = await login(client, "kate", STRONG_PASSWORD)
    assert "errors" not in body, body
    after = await user_row(database, "kate")
    assert (after.failed_login_count, after.locked_until) == (0, None)
    assert after.last_login_at is not None


async def test_failures_after_an_expired_lock_count_afresh(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "liam")
    await fail_logins(client, "liam", 5)
    await expire_lock(database, "name:liam")

    await fail_logins(client, "liam", 1)  # one new failure, not the sixth in a row
    assert (await user_row(database, "liam")).failed_login_count == 1
    assert "errors" not in await login(client, "liam", STRONG_PASSWORD)


async def test_deactivated_and_deleted_users_cannot_log_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    inactive = await register(client, "mona")
    deleted = await register(client, "nick")
    mona = await user_row(database, "mona")
    nick = await user_row(database, "nick")
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.set_active(transaction, mona.id, active=False)
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.delete(transaction, nick.id)
    assert inactive["user"] is not None
    assert deleted["user"] is not None

    for name in ("mona", "mona@example.com", "nick", "nick@example.com"):
        body = await login(client, name, STRONG_PASSWORD)
        assert body["data"] is None
        [error] = body["errors"]
        assert error["message"] == "Invalid username or password."
        assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert (await user_row(database, "mona")).last_login_at is None
    assert (await user_row(database, "nick")).last_login_at is None

    # Reactivated, the same password works again: it was the account state that refused it.
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.set_active(transaction, mona.id, active=True)
    assert "errors" not in await login(client, "mona", STRONG_PASSWORD)


async def test_deactivation_ends_existing_sessions_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "olga")
    assert "errors" not in await gql(client, ME, token=user.access_token)
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.set_active(transaction, user.user_id, active=False)
    assert error_code(await gql(client, ME, token=user.access_token)) == "UNAUTHENTICATED"
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": user.refresh_token}})
    assert error_code(refreshed) == "UNAUTHENTICATED"


async def test_an_inactive_flag_alone_stops_existing_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    # Even if a session row were left un-revoked, an inactive user's token must not work.
    user = await signed_in(client, "pete")
    await set_columns(database, user.user_id, is_active=False)
    assert error_code(await gql(client, ME, token=user.access_token)) == "UNAUTHENTICATED"
    await set_columns(database, user.user_id, is_active=True)
    assert "errors" not in await gql(client, ME, token=user.access_token)


async def test_deletion_ends_existing_sessions_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "quinn")
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.delete(transaction, user.user_id)
    body = await gql(client, ME, token=user.access_token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["status"] == 401
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": user.refresh_token}})
    assert error_code(refreshed) == "UNAUTHENTICATED"


async def test_a_deleted_flag_alone_stops_existing_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "ruth")
    await set_columns(database, user.user_id, deleted_at=utcnow())
    assert error_code(await gql(client, ME, token=user.access_token)) == "UNAUTHENTICATED"


async def test_a_lock_stops_new_sign_ins_but_not_existing_sessions_or_their_refresh(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "sam")
    await fail_logins(client, "sam", 5)
    assert error_code(await login(client, "sam", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"

    assert (await gql(client, ME, token=user.access_token))["data"]["me"]["username"] == "sam"
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": user.refresh_token}})
    assert "errors" not in refreshed, refreshed
    renewed = refreshed["data"]["refreshToken"]["accessToken"]
    assert (await gql(client, ME, token=renewed))["data"]["me"]["username"] == "sam"
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(func.count()).select_from(AuthSession)
        live = statement.where(
            AuthSession.user_id == user.user_id, AuthSession.revoked_at.is_(None)
        )
        assert (await session.execute(live)).scalar_one() == 1
