"""Authentication over WebSocket (graphql-transport-ws): the token rides in connection_init."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from websockets.asyncio.client import ClientConnection, connect

from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.server import live_server

PROTOCOL = "graphql-transport-ws"
ME = "{ me { username } }"


@dataclass
class LiveApp:
    ws_url: str
    http: httpx.AsyncClient


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    app = create_app(make_settings(database_url, tmp_path))
    async with (
        LifespanManager(app),
        live_server(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        yield LiveApp(ws_url=f"ws://{address}/graphql", http=http)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv(decode=True))
    return message


async def open_connection(ws: ClientConnection, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert await receive(ws) == {"type": "connection_ack"}


async def run(ws: ClientConnection, operation_id: str, query: str) -> dict[str, Any]:
    """Run a query over the connection; returns the single result payload."""
    await ws.send(
        json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query}})
    )
    message = await receive(ws)
    assert message["id"] == operation_id, message
    assert message["type"] == "next", message
    assert await receive(ws) == {"id": operation_id, "type": "complete"}
    payload: dict[str, Any] = message["payload"]
    return payload


def assert_unauthenticated(payload: dict[str, Any]) -> None:
    assert payload.get("data") is None, payload
    [error] = payload["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", payload
    assert error["extensions"]["status"] == 401


def bearer(user: SignedIn) -> dict[str, str]:
    return {"authorization": f"Bearer {user.access_token}"}


async def test_me_works_with_a_valid_token(live: LiveApp) -> None:
    user = await signed_in(live.http, "wanda")
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, bearer(user))
        payload = await run(ws, "1", ME)
        assert "errors" not in payload, payload
        assert payload["data"] == {"me": {"username": "wanda"}}


async def test_me_without_a_token_is_unauthenticated(live: LiveApp) -> None:
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, {})
        assert_unauthenticated(await run(ws, "1", ME))


@pytest.mark.parametrize("authorization", ["Basic x", "Bearer", "Bearer not-a-token"])
async def test_a_bad_authorization_value_is_unauthenticated(
    live: LiveApp, authorization: str
) -> None:
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, {"authorization": authorization})
        assert_unauthenticated(await run(ws, "1", ME))


async def test_a_refresh_token_does_not_authenticate_a_connection(live: LiveApp) -> None:
    user = await signed_in(live.http, "xander")
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, {"authorization": f"Bearer {user.refresh_token}"})
        assert_unauthenticated(await run(ws, "1", ME))


async def test_logout_over_http_ends_an_open_connection(live: LiveApp) -> None:
    user = await signed_in(live.http, "yara")
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, bearer(user))
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "yara"}}

        body = await gql(
            live.http, "mutation { logout { revokedSessions } }", token=user.access_token
        )
        assert body["data"]["logout"] == {"revokedSessions": 1}

        assert_unauthenticated(await run(ws, "2", ME))
        assert_unauthenticated(await run(ws, "3", ME))


async def test_logout_of_another_session_leaves_the_connection_working(live: LiveApp) -> None:
    user = await signed_in(live.http, "zeno")
    other = await signed_in(live.http, "zoe")
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as ws:
        await open_connection(ws, bearer(user))
        body = await gql(
            live.http, "mutation { logout { revokedSessions } }", token=other.access_token
        )
        assert body["data"]["logout"] == {"revokedSessions": 1}
        assert (await run(ws, "1", ME))["data"] == {"me": {"username": "zeno"}}
