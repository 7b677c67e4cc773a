"""`auditEvents` renders each event once per (document, variables, audience), over WebSocket.

Subscribers of one group share the first subscriber's render (its nested statements run once);
different documents, variables, permission sets, users (when the permission set does not see
everyone) and sessions (for session-relative documents) each get their own render. A render
that records a sensitive read is not shared: every subscriber reads, and is audited, itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import ExecutionResult, GraphQLError
from websockets.asyncio.client import ClientConnection

from db.models import AuditAction
from graph.common.renders import render_once
from tests.support.audit import audit_rows
from tests.support.identity import SignedIn, gql, login, signed_in, signed_in_with_role
from tests.support.queries import count_statements
from tests.support.ws import (
    RECEIVE_TIMEOUT,
    EventFeed,
    LiveApp,
    audit_head,
    live_app,
    open_as,
    send,
    subscribe,
)

USERNAMES = "subscription { auditEvents { sequence action user { username } } }"
SESSIONS = "subscription { auditEvents { sequence user { username sessions { id } } } }"
CURRENT = "subscription { auditEvents { sequence user { sessions { id current } } } }"
OWN_LOGS = """
subscription($n: Int!) {
  auditEvents { sequence user { auditLogs(first: $n) { edges { node { action } } } } }
}
"""
RENAME = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { errors { code } } }
"""


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def follow_document(
    live: LiveApp,
    ws: ClientConnection,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_id: str = "events",
) -> EventFeed:
    """Subscribe to `query` on an acknowledged connection, once it listens on the bus."""
    listening = live.subscribers.active
    await subscribe(ws, operation_id, query, variables)
    await live.subscribers.reach(listening + 1)
    return EventFeed(ws, operation_id, after=await audit_head(live.database))


async def opened(live: LiveApp, ws: ClientConnection, token: str, query: str) -> EventFeed:
    await open_as(live, ws, token)
    return await follow_document(live, ws, query)


async def rename(live: LiveApp, user: SignedIn, full_name: str) -> None:
    body = await gql(live.http, RENAME, {"input": {"fullName": full_name}}, token=user.access_token)
    assert body["data"]["updateProfile"]["errors"] == [], body


async def test_subscribers_of_one_document_share_one_render(live: LiveApp) -> None:
    dora = await signed_in(live.http, "dora")
    engine = live.database.engine
    async with live.connect() as first, live.connect() as second, live.connect() as third:
        feeds = [await opened(live, first, dora.access_token, USERNAMES)]

        async def one_event(full_name: str) -> tuple[int, list[dict[str, Any]]]:
            with count_statements(engine) as counter:
                await rename(live, dora, full_name)
                events = [await feed.next() for feed in feeds]
            return counter.count, events

        alone, [event] = await one_event("Dora One")
        assert event["user"] == {"username": "dora"}
        feeds += [await opened(live, ws, dora.access_token, USERNAMES) for ws in (second, third)]
        together, events = await one_event("Dora Two")

    assert events[0]["action"] == "UPDATE"
    assert events[0]["sequence"] > event["sequence"]
    assert events == [events[0]] * 3
    assert together == alone  # the nested user lookup ran once for the three subscribers


async def test_each_permission_set_gets_its_own_render(live: LiveApp) -> None:
    admin = await signed_in_with_role(live.http, live.database, "ada", "admin")
    auditor = await signed_in_with_role(live.http, live.database, "argus", "auditor")
    dora = await signed_in(live.http, "dora")
    async with live.connect() as ws_admin, live.connect() as ws_auditor:
        as_admin = await opened(live, ws_admin, admin.access_token, SESSIONS)
        as_auditor = await opened(live, ws_auditor, auditor.access_token, SESSIONS)
        await rename(live, dora, "Dora Explorer")
        seen_by_admin, seen_by_auditor = await as_admin.next(), await as_auditor.next()

    assert seen_by_admin["sequence"] == seen_by_auditor["sequence"]
    [session] = seen_by_admin["user"]["sessions"]  # `sessions:read`
    assert session["id"]
    assert seen_by_auditor["user"] == {"username": "dora", "sessions": []}  # not theirs to see


async def test_callers_who_see_only_their_own_rows_get_renders_of_their_own(
    live: LiveApp,
) -> None:
    argus = await signed_in_with_role(live.http, live.database, "argus", "auditor")
    iris = await signed_in_with_role(live.http, live.database, "iris", "auditor")
    async with live.connect() as ws_argus, live.connect() as ws_iris:
        as_argus = await opened(live, ws_argus, argus.access_token, SESSIONS)
        as_iris = await opened(live, ws_iris, iris.access_token, SESSIONS)
        await rename(live, argus, "Argus Panoptes")
        seen_by_argus, seen_by_iris = await as_argus.next(), await as_iris.next()

    assert seen_by_argus["sequence"] == seen_by_iris["sequence"]
    assert len(seen_by_argus["user"]["sessions"]) == 1  # the same permissions, but his own
    assert seen_by_iris["user"] == {"username": "argus", "sessions": []}


async def test_each_set_of_variables_gets_its_own_render(live: LiveApp) -> None:
    dora = await signed_in(live.http, "dora")
    async with live.connect() as ws_one, live.connect() as ws_two:
        await open_as(live, ws_one, dora.access_token)
        one = await follow_document(live, ws_one, OWN_LOGS, {"n": 1})
        await open_as(live, ws_two, dora.access_token)
        two = await follow_document(live, ws_two, OWN_LOGS, {"n": 2})
        await rename(live, dora, "Dora Explorer")
        first, second = await one.next(), await two.next()

    assert first["sequence"] == second["sequence"]
    assert [edge["node"]["action"] for edge in first["user"]["auditLogs"]["edges"]] == ["UPDATE"]
    assert [edge["node"]["action"] for edge in second["user"]["auditLogs"]["edges"]] == [
        "UPDATE",
        "LOGIN",
    ]


async def test_a_session_relative_document_is_rendered_per_session(live: LiveApp) -> None:
    dora = await signed_in(live.http, "dora")
    body = await login(live.http, "dora", dora.password)
    other_token = body["data"]["login"]["accessToken"]
    async with live.connect() as ws_first, live.connect() as ws_second:
        first = await opened(live, ws_first, dora.access_token, CURRENT)
        second = await opened(live, ws_second, other_token, CURRENT)
        await rename(live, dora, "Dora Explorer")
        seen_first, seen_second = await first.next(), await second.next()

    def current(event: dict[str, Any]) -> list[str]:
        return [session["id"] for session in event["user"]["sessions"] if session["current"]]

    ids = {session["id"] for session in seen_first["user"]["sessions"]}
    assert ids == {session["id"] for session in seen_second["user"]["sessions"]}
    assert len(ids) == 2
    [current_first], [current_second] = current(seen_first), current(seen_second)
    assert current_first != current_second


@pytest.mark.parametrize("subject", ["dora", "ada"])
async def test_every_reader_of_someone_elses_audit_rows_records_their_read(
    live: LiveApp, subject: str
) -> None:
    """A render that records a sensitive read is made by each reader; the event's own subject
    (Ada, who records nothing for reading her own rows) never hands hers to Bob."""
    ada = await signed_in_with_role(live.http, live.database, "ada", "admin")
    bob = await signed_in_with_role(live.http, live.database, "bob", "admin")
    renamed = ada if subject == "ada" else await signed_in(live.http, subject)
    async with live.connect() as ws_ada, live.connect() as ws_bob:
        await open_as(live, ws_ada, ada.access_token)
        as_ada = await follow_document(live, ws_ada, OWN_LOGS, {"n": 1})
        await open_as(live, ws_bob, bob.access_token)
        as_bob = await follow_document(live, ws_bob, OWN_LOGS, {"n": 1})
        await rename(live, renamed, "Renamed Explorer")
        seen_by_ada, seen_by_bob = await as_ada.next(), await as_bob.next()
        assert seen_by_ada == seen_by_bob
        listening = live.subscribers.active
        await send(ws_ada, {"id": "events", "type": "complete"})
        await send(ws_bob, {"id": "events", "type": "complete"})
        await live.subscribers.reach(listening - 2)
    expected = sorted([bob.user_id] if subject == "ada" else [ada.user_id, bob.user_id])

    async def readers() -> list[Any]:  # stored as each operation ends, just after it leaves
        rows = await audit_rows(
            live.database, action=AuditAction.READ.value, entity_type="AuditLog"
        )
        return sorted(row["user_id"] for row in rows)

    for _ in range(round(RECEIVE_TIMEOUT / 0.05)):
        if len(await readers()) >= len(expected):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a wrong extra row would have been stored by now too
    assert await readers() == expected


async def test_a_subscriber_that_does_not_read_delays_nobody(live: LiveApp) -> None:
    dora = await signed_in(live.http, "dora")
    async with live.connect() as idle, live.connect() as reader:
        await opened(live, idle, dora.access_token, USERNAMES)  # never read from
        feed = await opened(live, reader, dora.access_token, USERNAMES)
        for index in range(3):
            await rename(live, dora, f"Dora {index}")
        events = [await feed.next() for _ in range(3)]
    assert [event["action"] for event in events] == ["UPDATE"] * 3


async def test_a_waiting_subscriber_renders_itself_when_the_rendering_one_leaves() -> None:
    renders: dict[Any, Any] = {}
    started = asyncio.Event()

    async def stuck() -> ExecutionResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError  # pragma: no cover - never woken

    first = asyncio.create_task(render_once(renders, "group", stuck, []))
    await started.wait()
    second = asyncio.create_task(
        render_once(renders, "group", lambda: ExecutionResult({"n": 2}, None), [])
    )
    await asyncio.sleep(0)
    first.cancel()
    result = await second
    assert result.data == {"n": 2}
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_subscribers_of_a_group_get_results_of_their_own() -> None:
    renders: dict[Any, Any] = {}
    gate = asyncio.Event()
    executions: list[int] = []

    async def execute() -> ExecutionResult:
        executions.append(1)
        await gate.wait()
        return ExecutionResult({"n": 1}, [GraphQLError("partly failed")])

    tasks = [asyncio.create_task(render_once(renders, "group", execute, [])) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert executions == [1]
    assert [result.data for result in results] == [{"n": 1}] * 3
    assert len({id(result) for result in results}) == 3
    assert len({id(result.errors) for result in results}) == 3  # each shapes its own list
    assert [[error.message for error in result.errors or []] for result in results] == [
        ["partly failed"]
    ] * 3
