"""Authentication over WebSocket (graphql-transport-ws): the token rides in connection_init.

A connection is acknowledged only with the access token of a live session; anything else is
closed with 4403 before the ack. An open connection is closed with 4403 as soon as its session
stops authenticating.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.identity import SignedIn, gql, login, signed_in
from tests.support.ws import (
    CLOSE_FORBIDDEN,
    PROTOCOL,
    LiveApp,
    bearer,
    closed_with,
    live_app,
    open_as,
    receive,
    rejection_code,
    run,
    send,
)

ME = "{ me { username } }"
LOGOUT = "mutation { logout { revokedSessions } }"


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def second_session(live: LiveApp, user: SignedIn) -> str:
    """Sign the same user in again; returns the new session's access token."""
    body = await login(live.http, user.username, user.password)
    assert "errors" not in body, body
    token: str = body["data"]["login"]["accessToken"]
    return token


async def test_me_works_with_a_valid_token(live: LiveApp) -> None:
    user = await signed_in(live.http, "wanda")
    async with live.connect() as ws:
        assert ws.subprotocol == PROTOCOL
        await send(ws, {"type": "connection_init", "payload": bearer(user.access_token)})
        assert await receive(ws) == {"type": "connection_ack"}
        payload = await run(ws, "1", ME)
        assert "errors" not in payload, payload
        assert payload["data"] == {"me": {"username": "wanda"}}


async def test_the_authorization_key_may_be_capitalised(live: LiveApp) -> None:
    user = await signed_in(live.http, "wendy")
    async with live.connect() as ws:
        await send(
            ws,
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {user.access_token}"},
            },
        )
        assert await receive(ws) == {"type": "connection_ack"}
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "wendy"}}


@pytest.mark.parametrize("payload", [{}, {"authorization": ""}, {"authorization": None}])
async def test_a_connection_without_a_token_is_refused(
    live: LiveApp, payload: dict[str, Any]
) -> None:
    assert await rejection_code(live, payload) == CLOSE_FORBIDDEN


async def test_a_connection_init_without_a_payload_is_refused(live: LiveApp) -> None:
    async with live.connect() as ws:
        await send(ws, {"type": "connection_init"})
        code, before = await closed_with(ws)
    assert (code, before) == (CLOSE_FORBIDDEN, [])


@pytest.mark.parametrize(
    "authorization", ["Basic x", "Bearer", "Bearer not-a-token", "not-a-token", 42, ["Bearer x"]]
)
async def test_a_bad_authorization_value_is_refused(live: LiveApp, authorization: object) -> None:
    assert await rejection_code(live, {"authorization": authorization}) == CLOSE_FORBIDDEN


async def test_a_token_signed_with_another_key_is_refused(live: LiveApp) -> None:
    user = await signed_in(live.http, "vera")
    header, claims, signature = user.access_token.split(".")
    forged = f"{header}.{claims}.{signature[::-1]}"
    assert await rejection_code(live, bearer(forged)) == CLOSE_FORBIDDEN


async def test_a_refresh_token_does_not_authenticate_a_connection(live: LiveApp) -> None:
    user = await signed_in(live.http, "xander")
    assert await rejection_code(live, bearer(user.refresh_token)) == CLOSE_FORBIDDEN


async def test_the_token_of_a_revoked_session_is_refused(live: LiveApp) -> None:
    user = await signed_in(live.http, "violet")
    body = await gql(live.http, LOGOUT, token=user.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 1}
    assert await rejection_code(live, bearer(user.access_token)) == CLOSE_FORBIDDEN


async def test_operations_before_the_ack_are_refused(live: LiveApp) -> None:
    async with live.connect() as ws:
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": ME}})
        code, before = await closed_with(ws)
    assert (code, before) == (4401, [])


async def test_logout_over_http_ends_an_open_connection(live: LiveApp) -> None:
    user = await signed_in(live.http, "yara")
    async with live.connect() as ws:
        await open_as(live, ws, user.access_token)
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "yara"}}

        body = await gql(live.http, LOGOUT, token=user.access_token)
        assert body["data"]["logout"] == {"revokedSessions": 1}
        started = time.monotonic()

        code, before = await closed_with(ws, within=2)
        assert (code, before) == (CLOSE_FORBIDDEN, [])
        assert time.monotonic() - started < 2


async def test_logout_of_another_session_leaves_the_connection_working(live: LiveApp) -> None:
    user = await signed_in(live.http, "zeno")
    other = await signed_in(live.http, "zoe")
    async with live.connect() as ws:
        await open_as(live, ws, user.access_token)
        body = await gql(live.http, LOGOUT, token=other.access_token)
        assert body["data"]["logout"] == {"revokedSessions": 1}
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "zeno"}}


async def test_ending_another_session_of_the_same_user_leaves_the_connection_working(
    live: LiveApp,
) -> None:
    user = await signed_in(live.http, "zack")
    other_session = await second_session(live, user)
    async with live.connect() as ws:
        await open_as(live, ws, user.access_token)
        body = await gql(live.http, LOGOUT, token=other_session)
        assert body["data"]["logout"] == {"revokedSessions": 1}
        # The guard re-checks the session after a LOGOUT of this user: it is still live.
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "zack"}}
        await asyncio.sleep(0.3)
        assert (await run(ws, "2", ME))["data"] == {"me": {"username": "zack"}}
