"""A lock leaves sessions and their refresh alone; logout counts only live sessions."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import httpx

from db.base import utcnow
from db.models import AuthSession
from db.session import Database
from tests.identity.test_lockout import REFRESH, error_code, expire_lock, fail_logins
from tests.support.identity import STRONG_PASSWORD, gql, login, signed_in

ME = "{ me { username } }"


async def test_a_refresh_during_a_lock_rotates_and_the_session_outlives_the_lock(
    client: httpx.AsyncClient, database: Database
) -> None:
    ivy = await signed_in(client, "ivy")
    await fail_logins(client, "ivy", 5)
    assert error_code(await login(client, "ivy", STRONG_PASSWORD)) == "ACCOUNT_LOCKED"
    renewed = await gql(client, REFRESH, {"input": {"refreshToken": ivy.refresh_token}})
    tokens = renewed["data"]["refreshToken"]
    assert (await gql(client, ME, token=tokens["accessToken"]))["data"] == {
        "me": {"username": "ivy"}
    }
    # The spent refresh token is still refused (rotation is unchanged by the lock).
    spent = await gql(client, REFRESH, {"input": {"refreshToken": ivy.refresh_token}})
    assert error_code(spent) == "UNAUTHENTICATED"

    await expire_lock(database, "name:ivy")
    assert "errors" not in await login(client, "ivy", STRONG_PASSWORD)


async def test_logout_everywhere_counts_only_sessions_that_were_still_live(
    client: httpx.AsyncClient, database: Database
) -> None:
    jay = await signed_in(client, "jay")
    second = await login(client, "jay", STRONG_PASSWORD)
    assert "errors" not in second
    # Let the other session expire without revoking it.
    listed = await gql(client, "{ me { sessions { id current } } }", token=jay.access_token)
    [other] = [row["id"] for row in listed["data"]["me"]["sessions"] if not row["current"]]
    other_id = uuid.UUID(base64.b64decode(other).decode().split(":", 1)[1])
    async with database.unit_of_work() as uow, uow.write() as session:
        row = await session.get(AuthSession, other_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    body = await gql(
        client, "mutation { logout(input: {allSessions: true}) { revokedSessions } }",
        token=jay.access_token,
    )  # fmt: skip
    assert body["data"] == {"logout": {"revokedSessions": 1}}
