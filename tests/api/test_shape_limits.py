"""Shape limits and transport guards: operations, root mutation fields, input lists, CSRF, frames.

Every refusal is checked to run no SQL at all (nothing executes), on both backends; the WebSocket
limits are checked against a real uvicorn server and against `ledgerql serve` itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from graph.transport import CSRF_REFUSAL
from tests.support.apps import app_with, code_of, refused_without_sql
from tests.support.identity import gql, register, signed_in
from tests.support.processes import running_server, server_env
from tests.support.queries import count_statements
from tests.support.ws import (
    PROTOCOL,
    LiveApp,
    bearer,
    closed_with,
    init,
    live_app,
    receive,
    run,
    subscribe,
)

HEALTH = "{ health { status } }"
SKIPPABLE_HEALTH = "query($skip: Boolean!) { health @skip(if: $skip) { status } }"
PREFLIGHTED = {"graphql-require-preflight": "1"}


def operations(count: int) -> str:
    """A document defining `count` named queries."""
    return " ".join(f"query Q{n} {{ health {{ status }} }}" for n in range(count))


def logins(count: int) -> str:
    """`count` aliased `login` fields with wrong passwords."""
    return " ".join(
        f'l{n}: login(input: {{username: "nobody", password: "Wr0ng-{n}-passw0rd!"}}) '
        "{ accessToken }"
        for n in range(count)
    )


async def test_eleven_operations_in_one_document_are_refused(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    with count_statements(app.state.database.engine) as counter:
        response = await client.post(
            "/graphql", json={"query": operations(11), "operationName": "Q0"}
        )
    assert counter.count == 0, counter.statements
    body = response.json()
    assert code_of(body) == "BAD_REQUEST"
    assert body["errors"][0]["message"] == "11 operations found in one document. Allowed: 10"
    allowed = await client.post("/graphql", json={"query": operations(10), "operationName": "Q9"})
    assert allowed.json() == {
        "data": {"health": {"status": "OK"}},
        "extensions": allowed.json()["extensions"],
    }


async def test_root_mutation_fields_are_counted_through_fragments(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    document = (
        f"mutation {{ ...Half ... on Mutation {{ {logins(5)} }} }} "
        f"fragment Half on Mutation {{ {logins(6).replace('l', 'm', 6)} }}"
    )
    body = await refused_without_sql(client, app, document)
    assert code_of(body) == "BAD_REQUEST"
    assert body["errors"][0]["message"] == "11 root fields in one mutation. Allowed: 10"
    ten = await gql(client, f"mutation {{ {logins(10)} }}")
    assert {error["extensions"]["code"] for error in ten["errors"]} == {"INVALID_CREDENTIALS"}


async def test_the_root_mutation_field_limit_is_configurable(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, graphql_max_root_mutation_fields=2) as (
        client,
        app,
    ):
        body = await refused_without_sql(client, app, f"mutation {{ {logins(3)} }}")
        assert body["errors"][0]["message"] == "3 root fields in one mutation. Allowed: 2"


@pytest.mark.parametrize(
    "variables",
    [
        {"q": list(range(101))},
        {"input": {"nested": {"deeper": ["x"] * 101}}},
        {"input": [[0] * 101]},
    ],
    ids=["top-level", "inside-an-object", "inside-a-list"],
)
async def test_variables_holding_a_list_over_the_limit_are_refused(
    client: httpx.AsyncClient, app: Starlette, variables: dict[str, object]
) -> None:
    with count_statements(app.state.database.engine) as counter:
        body = await gql(client, SKIPPABLE_HEALTH, {"skip": False, **variables})
    assert counter.count == 0, counter.statements
    assert code_of(body) == "BAD_REQUEST"
    assert [e["message"] for e in body["errors"]] == ["A list of 101 items was given. Allowed: 100"]


async def test_a_list_literal_over_the_limit_is_refused(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    items = ", ".join(str(n) for n in range(101))
    body = await refused_without_sql(client, app, f"{{ users(first: [{items}]) {{ totalCount }} }}")
    messages = [error["message"] for error in body["errors"]]
    assert "A list of 101 items was given. Allowed: 100" in messages


async def test_a_list_at_the_limit_passes_the_shape_check(client: httpx.AsyncClient) -> None:
    body = await gql(client, SKIPPABLE_HEALTH, {"skip": False, "z": [0] * 100})
    assert body["data"] == {"health": {"status": "OK"}}


async def test_simple_get_without_a_preflight_header_is_refused_and_runs_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"content-type": content_type} if content_type else {}
        with count_statements(app.state.database.engine) as counter:
            response = await client.get("/graphql", params={"query": HEALTH}, headers=headers)
        assert counter.count == 0, counter.statements
        assert response.status_code == 400
        body = response.json()
        assert code_of(body) == "BAD_REQUEST"
        assert body["errors"][0]["message"] == CSRF_REFUSAL
        assert "data" not in body


async def test_get_with_a_preflight_forcing_header_runs(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "getter")
    for headers in (
        PREFLIGHTED,
        {"apollo-require-preflight": "true"},
        {"x-requested-with": "XMLHttpRequest"},
        {"content-type": "application/json"},
        user.headers,
    ):
        response = await client.get("/graphql", params={"query": HEALTH}, headers=headers)
        assert response.status_code == 200, (headers, response.text)
        assert response.json()["data"] == {"health": {"status": "OK"}}
    blank = await client.get("/graphql", params={"query": HEALTH}, headers={"x-requested-with": ""})
    assert blank.status_code == 400


async def test_graphiql_page_is_still_served_to_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_cors_preflight_allows_the_preflight_header_for_listed_origins_only(
    database_url: str, tmp_path: Path
) -> None:
    origins = ["https://app.example.com"]
    async with app_with(database_url, tmp_path, cors_origins=origins) as (client, _):
        request = {
            "access-control-request-method": "GET",
            "access-control-request-headers": "graphql-require-preflight",
        }
        listed = await client.options(
            "/graphql", headers={**request, "origin": "https://app.example.com"}
        )
        assert listed.status_code == 200
        allowed = listed.headers["access-control-allow-headers"].lower()
        assert "graphql-require-preflight" in allowed
        other = await client.options(
            "/graphql", headers={**request, "origin": "https://evil.example"}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(
        database_url, tmp_path, ws_max_message_bytes=2048, graphql_cost_budget="30/3600"
    ) as app:
        yield app


async def test_websocket_message_over_the_limit_closes_with_1009(live: LiveApp) -> None:
    user = await signed_in(live.http, "framer")
    async with live.connect() as ws:
        await init(ws, bearer(user.access_token))
        padded = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": HEALTH}})
        assert len(padded) < 2048
        assert (await run(ws, "ok", HEALTH))["data"] == {"health": {"status": "OK"}}
        oversized = {"id": "2", "type": "subscribe", "payload": {"query": HEALTH + " " * 2100}}
        await ws.send(json.dumps(oversized))
        code, before = await closed_with(ws)
    assert code == 1009
    assert before == []


async def test_subscriptions_are_refused_once_the_cost_budget_is_spent(live: LiveApp) -> None:
    user = await signed_in(live.http, "spender")  # charged to the address, not to the user
    costly = (
        "subscription { auditEvents { user { auditLogs(first: 10) { edges { node { id } } } } } }"
    )
    async with live.connect() as ws:
        await init(ws, bearer(user.access_token))
        await subscribe(ws, "first", costly)  # 1 + 1 + (1 + 10 * 2) = 23 of the user's 30
        await subscribe(ws, "second", costly)  # 23 more than the 7 left: refused
        message = await receive(ws)
    assert message["id"] == "second", message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["retryAfter"] > 0


def test_ledgerql_serve_bounds_websocket_messages(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path, WS_MAX_MESSAGE_BYTES="4096")

    async def oversized_init(base: str) -> int:
        async with httpx.AsyncClient(base_url=base) as http:
            await register(http, "served")
        url = base.replace("http", "ws", 1) + "/graphql"
        async with ws_connect(url, subprotocols=[Subprotocol(PROTOCOL)]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"x": "y" * 8000}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    with running_server(env, tmp_path / "serve.log") as (_, base):
        assert asyncio.run(oversized_init(base)) == 1009


async def test_websocket_origin_is_checked_against_cors_origins(
    database_url: str, tmp_path: Path
) -> None:
    origins = ["https://app.example.com"]
    async with live_app(database_url, tmp_path, cors_origins=origins) as live:
        user = await signed_in(live.http, "origin")
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(
                live.ws_url,
                subprotocols=[Subprotocol(PROTOCOL)],
                origin=Origin("https://evil.example"),
            ):
                pass
        assert refused.value.response.status_code == 403
        async with ws_connect(
            live.ws_url, subprotocols=[Subprotocol(PROTOCOL)], origin=Origin(origins[0])
        ) as ws:
            await init(ws, bearer(user.access_token))
            assert (await run(ws, "q", HEALTH))["data"] == {"health": {"status": "OK"}}
