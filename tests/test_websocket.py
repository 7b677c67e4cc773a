"""Subscriptions transport: WebSocket at /graphql with graphql-transport-ws only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from graph.app import create_app
from tests.conftest import make_settings
from tests.support.server import live_server

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
async def ws_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    settings = make_settings(database_url, tmp_path, ws_connection_init_timeout_seconds=0.5)
    app = create_app(settings)
    async with LifespanManager(app), live_server(app) as address:
        yield f"ws://{address}/graphql"


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv(decode=True))
    return message


async def _init(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert await _receive(ws) == {"type": "connection_ack"}


async def test_operations_run_over_graphql_transport_ws(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=[PROTOCOL]) as ws:
        assert ws.subprotocol == PROTOCOL
        await _init(ws)
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "{ health { status database } }"},
                }
            )
        )
        result = await _receive(ws)
        assert result["type"] == "next"
        assert result["id"] == "1"
        assert result["payload"]["data"] == {"health": {"status": "OK", "database": True}}
        assert await _receive(ws) == {"id": "1", "type": "complete"}


async def test_invalid_operations_get_shaped_errors(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        await ws.send(
            json.dumps({"id": "7", "type": "subscribe", "payload": {"query": "{ nope }"}})
        )
        message = await _receive(ws)
        assert message["type"] == "error"
        assert message["id"] == "7"
        [error] = message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_the_legacy_graphql_ws_protocol_is_refused(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_a_connection_without_init_is_closed(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=[PROTOCOL]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408
