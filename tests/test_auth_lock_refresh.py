"""A lock suspends sessions without destroying them; logout counts only live sessions."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import httpx

from db.base import utcnow
from db.models import AuthSession
from db.session import Database
from tests.support.identity import STRONG_PASSWORD, gql, login, signed_in
from tests.test_auth_lockout import REFRESH, error_code, fail_logins, set_columns

ME = "{ me { username } }"


async def test_a_refresh_during_a_lock_is_refused_but_the_session_survives_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    ivy = await signed_in(client, "ivy")
    await fail_logins(client, "ivy", 5)
    refused = await gql(client, REFRESH, {"input": {"refreshToken": ivy.refresh_token}})
    assert error_code(refused) == "UNAUTHENTICATED"
    assert error_code(await gql(client, ME, token=ivy.access_token)) == "UNAUTHENTICATED"

    await set_columns(database, ivy.user_id, locked_until=utcnow() - timedelta(seconds=1))
    assert (await gql(client, ME, token=ivy.access_token))["data"] == {"me": {"username": "ivy"}}
    renewed = await gql(client, REFRESH, {"input": {"refreshToken": ivy.refresh_token}})
    assert renewed["data"]["refreshToken"]["accessToken"], renewed


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
