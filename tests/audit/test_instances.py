"""Two server processes on one PostgreSQL share audit events through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from db.session import Database
from tests.support.identity import gql, signed_in_with_role
from tests.support.processes import running_server, server_env

PROTOCOL = "graphql-transport-ws"
EVENTS = """
subscription Events($filter: AuditLogFilter) {
  auditEvents(filter: $filter) { sequence action entityType user { username } }
}
"""
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { errors { code } } }
"""


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(decode=True), 10))
    return message


async def _subscribe(ws: ClientConnection, token: str, variables: dict[str, Any]) -> None:
    payload = {"authorization": f"Bearer {token}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert await _receive(ws) == {"type": "connection_ack"}
    message = {"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}
    await ws.send(json.dumps(message))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_an_event_caused_on_one_instance_reaches_a_subscriber_on_the_other(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path)
    with (
        running_server(env, tmp_path / "a.log") as (_, base_a),
        running_server(env, tmp_path / "b.log") as (_, base_b),
    ):
        async with (
            httpx.AsyncClient(base_url=base_a) as instance_a,
            httpx.AsyncClient(base_url=base_b) as instance_b,
        ):
            auditor = await signed_in_with_role(instance_b, database, "watcher", "auditor")
            actor = await signed_in_with_role(instance_a, database, "actor", "user")
            ws_url = base_b.replace("http://", "ws://") + "/graphql"
            async with connect(ws_url, subprotocols=[PROTOCOL]) as ws:
                await _subscribe(ws, auditor.access_token, {"filter": {"action": "UPDATE"}})
                await asyncio.sleep(0.3)  # let the subscription register before the event
                body = await gql(
                    instance_a, UPDATE_PROFILE, {"input": {"fullName": "Acting Elsewhere"}},
                    token=actor.access_token,
                )  # fmt: skip
                assert body["data"]["updateProfile"]["errors"] == []
                message = await _receive(ws)
    assert message["type"] == "next", message
    event = message["payload"]["data"]["auditEvents"]
    assert event["action"] == "UPDATE"
    assert event["entityType"] == "User"
    assert event["user"] == {"username": "actor"}
