"""Subscriptions transport: WebSocket at /graphql with graphql-transport-ws only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.identity import signed_in
from tests.support.ws import PROTOCOL, LiveApp, bearer, closed_with, init, live_app, receive, send

INIT_TIMEOUT_SECONDS = 0.5


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(
        database_url, tmp_path, ws_connection_init_timeout_seconds=INIT_TIMEOUT_SECONDS
    ) as app:
        yield app


@pytest.fixture
async def token(live: LiveApp) -> str:
    """The access token of a signed-in user."""
    return (await signed_in(live.http, "socket")).access_token


async def test_operations_run_over_graphql_transport_ws(live: LiveApp, token: str) -> None:
    async with live.connect() as ws:
        assert ws.subprotocol == PROTOCOL
        await init(ws, bearer(token))
        await send(
            ws,
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "{ health { status database } }"},
            },
        )
        result = await receive(ws)
        assert result["type"] == "next"
        assert result["id"] == "1"
        assert result["payload"]["data"] == {"health": {"status": "OK", "database": True}}
        assert await receive(ws) == {"id": "1", "type": "complete"}


async def test_ping_gets_a_pong(live: LiveApp, token: str) -> None:
    async with live.connect() as ws:
        await init(ws, bearer(token))
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_invalid_operations_get_shaped_errors(live: LiveApp, token: str) -> None:
    async with live.connect() as ws:
        await init(ws, bearer(token))
        await send(ws, {"id": "7", "type": "subscribe", "payload": {"query": "{ nope }"}})
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["id"] == "7"
        [error] = message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_the_legacy_graphql_ws_protocol_is_refused(live: LiveApp) -> None:
    async with connect(live.ws_url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_a_connection_without_init_is_closed(live: LiveApp) -> None:
    async with live.connect() as ws:
        code, before = await closed_with(ws, within=INIT_TIMEOUT_SECONDS + 2)
    assert (code, before) == (4408, [])


async def test_a_second_connection_init_is_refused(live: LiveApp, token: str) -> None:
    async with live.connect() as ws:
        await init(ws, bearer(token))
        await send(ws, {"type": "connection_init", "payload": bearer(token)})
        code, before = await closed_with(ws)
    assert (code, before) == (4429, [])


async def test_an_acknowledged_connection_outlives_the_init_timeout(
    live: LiveApp, token: str
) -> None:
    async with live.connect() as ws:
        await init(ws, bearer(token))
        await asyncio.sleep(INIT_TIMEOUT_SECONDS + 0.2)
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
