"""Live audit events: `auditEvents` over graphql-transport-ws, against a real server.

A `websockets` client speaks the protocol to uvicorn; events are caused over HTTP by other
clients. Holders of `audit:read` receive every committed row, everybody else only their own;
rolled-back work is never announced; the connection ends when its token expires (4401) and as
soon as its session stops authenticating (4403).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.asyncio.client import ClientConnection

from db.audit import events
from db.models.audit import AuditLog
from tests.support.identity import (
    SignedIn,
    gql,
    login,
    register,
    signed_in,
    signed_in_with_role,
    user_uuid,
)
from tests.support.ws import (
    CLOSE_EXPIRED,
    CLOSE_FORBIDDEN,
    EVENTS,
    LiveApp,
    audit_head,
    bearer,
    closed_with,
    follow,
    live_app,
    open_as,
    receive,
    rejection_code,
    send,
    subscribe,
    token_expiring_in,
)

ERRORS = "errors { code message field }"
UPDATE_PROFILE = f"""
mutation($input: UpdateProfileInput!) {{
  updateProfile(input: $input) {{ user {{ id }} {ERRORS} }}
}}
"""
CHANGE_PASSWORD = f"""
mutation($input: ChangePasswordInput!) {{
  changePassword(input: $input) {{ user {{ id }} {ERRORS} }}
}}
"""
NEW_PASSWORD = "An0ther-Str0ng!Passphrase"
WRONG_PASSWORD = "Not-The-Current-0ne!"


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def with_role(live: LiveApp, username: str, role: str) -> SignedIn:
    return await signed_in_with_role(live.http, live.database, username, role)


async def update_profile(live: LiveApp, user: SignedIn, **changes: str) -> list[dict[str, Any]]:
    """Run updateProfile as `user`; returns its payload errors."""
    body = await gql(live.http, UPDATE_PROFILE, {"input": changes}, token=user.access_token)
    assert "errors" not in body, body
    errors: list[dict[str, Any]] = body["data"]["updateProfile"]["errors"]
    return errors


async def renamed(live: LiveApp, user: SignedIn, full_name: str) -> None:
    """A successful updateProfile (one UPDATE row of the user, by the user)."""
    assert await update_profile(live, user, fullName=full_name) == []


async def change_password(
    live: LiveApp, token: str, current: str, new: str = NEW_PASSWORD
) -> list[dict[str, Any]]:
    variables = {"input": {"currentPassword": current, "newPassword": new}}
    body = await gql(live.http, CHANGE_PASSWORD, variables, token=token)
    assert "errors" not in body, body
    errors: list[dict[str, Any]] = body["data"]["changePassword"]["errors"]
    return errors


async def wrong_password_change(live: LiveApp, user: SignedIn) -> None:
    """A refused password change: only its PASSWORD_CHANGE FAILURE row survives."""
    [error] = await change_password(live, user.access_token, WRONG_PASSWORD)
    assert error["code"] == "VALIDATION_FAILED", error
    assert error["field"] == ["input", "currentPassword"], error


async def manage(
    live: LiveApp, admin: SignedIn, name: str, target: SignedIn, role: str = ""
) -> None:
    """Run a user-management mutation (deactivateUser, revokeRole, ...) as `admin`."""
    variables: dict[str, Any] = {"userId": target.global_id}
    input_type = "UserIdInput"
    if role:
        variables["role"] = role
        input_type = "RoleGrantInput"
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {ERRORS} }} }}"
    body = await gql(live.http, query, {"input": variables}, token=admin.access_token)
    assert "errors" not in body, body
    assert body["data"][name]["errors"] == [], body


async def second_session(live: LiveApp, user: SignedIn) -> str:
    """Sign the user in again; the access token of the new session."""
    body = await login(live.http, user.username, user.password)
    assert "errors" not in body, body
    token: str = body["data"]["login"]["accessToken"]
    return token


def who(event: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """What an event says happened: action, status, entity type, and who acted."""
    user = event["user"]
    return event["action"], event["status"], event["entityType"], user and user["username"]


async def test_an_auditor_receives_every_event_as_it_commits(live: LiveApp) -> None:
    auditor = await with_role(live, "argus", "auditor")
    dora = await signed_in(live.http, "dora")
    async with live.connect() as ws:
        await open_as(live, ws, auditor.access_token)
        feed = await follow(live, ws)

        carol_id = user_uuid((await register(live.http, "carol"))["user"]["id"])
        await renamed(live, dora, "Dora Explorer")

        events = [await feed.next() for _ in range(3)]
        assert [who(event) for event in events] == [
            ("CREATE", "SUCCESS", "User", "carol"),
            ("PERMISSION_CHANGE", "SUCCESS", "UserRole", "carol"),
            ("UPDATE", "SUCCESS", "User", "dora"),
        ]
        assert events[0]["entityId"] == str(carol_id)
        assert events[2]["entityId"] == str(dora.user_id)
        # Every row, none skipped: the sequences are consecutive from the head at subscription.
        assert [event["sequence"] for event in events] == [feed.after + n for n in (1, 2, 3)]
        await feed.silent(0.3)


async def test_a_user_receives_only_their_own_events_in_order(live: LiveApp) -> None:
    alice = await signed_in(live.http, "alice")
    bob = await signed_in(live.http, "bob")
    async with live.connect() as ws:
        await open_as(live, ws, alice.access_token)
        feed = await follow(live, ws)

        # Other people's work first: none of it may reach alice.
        await renamed(live, bob, "Bob Builder")
        await wrong_password_change(live, bob)
        await register(live.http, "carl")
        assert (await login(live.http, "bob", WRONG_PASSWORD))["errors"]
        # Then alice's own.
        await renamed(live, alice, "Alice One")
        await wrong_password_change(live, alice)
        await renamed(live, alice, "Alice Two")

        events = [await feed.next() for _ in range(3)]
        assert [who(event) for event in events] == [
            ("UPDATE", "SUCCESS", "User", "alice"),
            ("PASSWORD_CHANGE", "FAILURE", "User", "alice"),
            ("UPDATE", "SUCCESS", "User", "alice"),
        ]
        assert {event["entityId"] for event in events} == {str(alice.user_id)}
        # Five rows by others came first and were skipped: alice's begin at the sixth.
        assert events[0]["sequence"] == feed.after + 6
        await feed.silent(0.3)


FILTER_CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str, str | None, str | None]]]] = {
    "action": ({"action": "UPDATE"}, [("UPDATE", "SUCCESS", "User", "eve"),
                                      ("UPDATE", "SUCCESS", "User", "dora")]),
    "user": ({"userId": "dora"}, [("PASSWORD_CHANGE", "FAILURE", "User", "dora"),
                                  ("UPDATE", "SUCCESS", "User", "dora")]),
    "status": ({"status": "FAILURE"}, [("PASSWORD_CHANGE", "FAILURE", "User", "dora"),
                                       ("LOGIN_FAILED", "FAILURE", "User", None)]),
    "user and status": ({"userId": "dora", "status": "SUCCESS"},
                        [("UPDATE", "SUCCESS", "User", "dora")]),
    "entity type": ({"entityType": "UserRole"},
                    [("PERMISSION_CHANGE", "SUCCESS", "UserRole", "carl")]),
    "entity id": ({"entityId": "eve"}, [("UPDATE", "SUCCESS", "User", "eve")]),
    "from the past": ({"from": "2000-01-01T00:00:00Z", "action": "CREATE"},
                      [("CREATE", "SUCCESS", "User", "carl")]),
    "until the past": ({"to": "2000-01-01T00:00:00Z"}, []),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FILTER_CASES))
async def test_the_filter_selects_events(live: LiveApp, case: str) -> None:
    template, expected = FILTER_CASES[case]
    auditor = await with_role(live, "argus", "auditor")
    dora = await signed_in(live.http, "dora")
    eve = await signed_in(live.http, "eve")
    names = {"dora": dora, "eve": eve}
    event_filter = dict(template)
    if "userId" in event_filter:
        event_filter["userId"] = names[event_filter["userId"]].global_id
    if "entityId" in event_filter:
        event_filter["entityId"] = str(names[event_filter["entityId"]].user_id)

    async with live.connect() as everything_ws, live.connect() as filtered_ws:
        await open_as(live, everything_ws, auditor.access_token)
        everything = await follow(live, everything_ws)
        await open_as(live, filtered_ws, auditor.access_token)
        filtered = await follow(live, filtered_ws, event_filter)

        await register(live.http, "carl")  # CREATE User, PERMISSION_CHANGE UserRole
        await wrong_password_change(live, dora)  # PASSWORD_CHANGE FAILURE
        await renamed(live, eve, "Eve Online")  # UPDATE
        await renamed(live, dora, "Dora Explorer")  # UPDATE
        assert (await login(live.http, "nobody", WRONG_PASSWORD))["errors"]  # LOGIN_FAILED

        # The unfiltered feed shows when the whole scenario has passed through the bus.
        scenario = [who(await everything.next()) for _ in range(6)]
        assert scenario[-1] == ("LOGIN_FAILED", "FAILURE", "User", None)
        assert [who(await filtered.next()) for _ in expected] == expected
        await filtered.silent(0.3)


async def test_a_malformed_filter_is_refused(live: LiveApp) -> None:
    auditor = await with_role(live, "argus", "auditor")
    async with live.connect() as ws:
        await open_as(live, ws, auditor.access_token)
        await subscribe(ws, "1", EVENTS, {"filter": {"action": "NOT_AN_ACTION"}})
        message = await receive(ws)
        assert message["id"] == "1"
        assert message["type"] == "error", message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST", error


async def test_rolled_back_work_emits_nothing(live: LiveApp) -> None:
    auditor = await with_role(live, "argus", "auditor")
    alice = await signed_in(live.http, "alice")
    async with live.connect() as ws:
        await open_as(live, ws, auditor.access_token)
        feed = await follow(live, ws)

        taken_name = await register(live.http, "alice", email="other@example.com")
        assert [error["code"] for error in taken_name["errors"]] == ["CONFLICT"]
        assert taken_name["user"] is None
        taken_email = await register(live.http, "alicia", email="alice@example.com")
        assert [error["code"] for error in taken_email["errors"]] == ["CONFLICT"]
        assert [error["code"] for error in await update_profile(live, alice, username="argus")] == [
            "CONFLICT"
        ]
        await feed.silent(0.5)

        # A refused password change keeps exactly one row: its failure.
        await wrong_password_change(live, alice)
        await renamed(live, alice, "Alice Again")
        failure, update = await feed.next(), await feed.next()
        assert who(failure) == ("PASSWORD_CHANGE", "FAILURE", "User", "alice")
        assert who(update) == ("UPDATE", "SUCCESS", "User", "alice")
        assert [failure["sequence"], update["sequence"]] == [feed.after + 1, feed.after + 2]


async def test_sequences_are_strictly_increasing_under_concurrent_writes(live: LiveApp) -> None:
    auditor = await with_role(live, "argus", "auditor")
    users = [await signed_in(live.http, f"writer{n}") for n in range(6)]
    async with live.connect() as ws:
        await open_as(live, ws, auditor.access_token)
        feed = await follow(live, ws)

        await asyncio.gather(*(renamed(live, user, f"Writer {n}") for n, user in enumerate(users)))

        events = [await feed.next() for _ in users]  # each asserts a higher sequence
        assert [event["sequence"] for event in events] == [feed.after + n for n in range(1, 7)]
        assert {who(event) for event in events} == {
            ("UPDATE", "SUCCESS", "User", user.username) for user in users
        }
        assert await audit_head(live.database) == feed.last
        await feed.silent(0.3)


async def test_the_connection_closes_with_4401_when_its_token_expires(live: LiveApp) -> None:
    alice = await signed_in(live.http, "alice")
    token, expires_at = token_expiring_in(live.settings, alice, 2)
    async with live.connect() as ws:
        await open_as(live, ws, token)
        feed = await follow(live, ws)
        await renamed(live, alice, "Alice Soon Gone")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "alice")

        code, before = await closed_with(ws, within=4)
        assert (code, before) == (CLOSE_EXPIRED, [])
        assert time.time() >= expires_at - 0.05  # not before the token's expiry


async def test_an_expired_token_is_refused(live: LiveApp) -> None:
    alice = await signed_in(live.http, "alice")
    token, _ = token_expiring_in(live.settings, alice, -60)
    assert await rejection_code(live, bearer(token)) == CLOSE_FORBIDDEN


@pytest.mark.parametrize(
    "payload", [{}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic eA=="}]
)
async def test_events_never_reach_a_connection_without_a_valid_token(
    live: LiveApp, payload: dict[str, Any]
) -> None:
    async with live.connect() as ws:
        await send(ws, {"type": "connection_init", "payload": payload})
        await subscribe(ws, "1", EVENTS)
        code, before = await closed_with(ws)
    assert (code, before) == (CLOSE_FORBIDDEN, [])


async def test_a_refresh_token_cannot_subscribe(live: LiveApp) -> None:
    alice = await signed_in(live.http, "alice")
    assert await rejection_code(live, bearer(alice.refresh_token)) == CLOSE_FORBIDDEN


@dataclass
class Parties:
    """Who takes part in ending alice's session."""

    alice: SignedIn
    other_session: str  # an access token of another session of alice's
    admin: SignedIn


async def _logout(live: LiveApp, parties: Parties) -> None:
    body = await gql(
        live.http, "mutation { logout { revokedSessions } }", token=parties.alice.access_token
    )
    assert body["data"]["logout"] == {"revokedSessions": 1}


async def _password_changed_elsewhere(live: LiveApp, parties: Parties) -> None:
    assert await change_password(live, parties.other_session, parties.alice.password) == []


async def _session_revoked_elsewhere(live: LiveApp, parties: Parties) -> None:
    other = parties.other_session
    body = await gql(live.http, "{ me { sessions { id current } } }", token=other)
    [connected] = [s["id"] for s in body["data"]["me"]["sessions"] if not s["current"]]
    query = (
        f"mutation($input: RevokeSessionInput!) {{ revokeSession(input: $input) {{ {ERRORS} }} }}"
    )
    body = await gql(live.http, query, {"input": {"sessionId": connected}}, token=other)
    assert body["data"]["revokeSession"]["errors"] == [], body


async def _deactivated(live: LiveApp, parties: Parties) -> None:
    await manage(live, parties.admin, "deactivateUser", parties.alice)


async def _deleted(live: LiveApp, parties: Parties) -> None:
    await manage(live, parties.admin, "deleteUser", parties.alice)


ENDINGS: dict[str, tuple[Callable[[LiveApp, Parties], Awaitable[None]], str | None]] = {
    # How the session ends, and alice's own row that may still reach her before the close.
    "logout": (_logout, "LOGOUT"),
    "password change in another session": (_password_changed_elsewhere, "PASSWORD_CHANGE"),
    "session revoked from another session": (_session_revoked_elsewhere, "LOGOUT"),
    "deactivateUser by an admin": (_deactivated, None),
    "deleteUser by an admin": (_deleted, None),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_the_connection_closes_with_4403_as_soon_as_its_session_ends(
    live: LiveApp, ending: str
) -> None:
    end_session, own_row = ENDINGS[ending]
    admin = await with_role(live, "root", "admin")
    alice = await signed_in(live.http, "alice")
    parties = Parties(alice, await second_session(live, alice), admin)
    async with live.connect() as ws:
        await open_as(live, ws, alice.access_token)
        feed = await follow(live, ws)
        await renamed(live, alice, "Alice Still Here")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "alice")

        await end_session(live, parties)
        started = time.monotonic()
        code, before = await closed_with(ws, within=2)
        assert time.monotonic() - started < 2
        assert code == CLOSE_FORBIDDEN
        allowed = [[]] if own_row is None else [[], [own_row]]
        assert [message["payload"]["data"]["auditEvents"]["action"] for message in before] in (
            allowed
        ), before


async def test_revoking_the_auditor_role_stops_other_peoples_events(live: LiveApp) -> None:
    admin = await with_role(live, "root", "admin")
    ann = await with_role(live, "ann", "auditor")
    bob = await signed_in(live.http, "bob")
    async with live.connect() as ws:
        await open_as(live, ws, ann.access_token)
        feed = await follow(live, ws)
        await renamed(live, bob, "Bob Seen")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "bob")

        await manage(live, admin, "revokeRole", ann, role="auditor")
        await renamed(live, bob, "Bob Unseen")
        await renamed(live, ann, "Ann Still Here")

        event = await feed.next()
        if who(event) == ("PERMISSION_CHANGE", "SUCCESS", "UserRole", "root"):
            event = await feed.next()  # the revocation itself may pass while it is decided
        assert who(event) == ("UPDATE", "SUCCESS", "User", "ann"), (event, feed.received)
        await feed.silent(0.3)
        # The connection itself stays open: ann's session is still live.
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_granting_the_auditor_role_widens_what_arrives(live: LiveApp) -> None:
    admin = await with_role(live, "root", "admin")
    ann = await signed_in(live.http, "ann")
    bob = await signed_in(live.http, "bob")
    async with live.connect() as ws:
        await open_as(live, ws, ann.access_token)
        feed = await follow(live, ws)
        await renamed(live, bob, "Bob Unseen")
        await renamed(live, ann, "Ann Plain")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "ann")

        await manage(live, admin, "assignRole", ann, role="auditor")
        await renamed(live, ann, "Ann Auditor")
        await renamed(live, bob, "Bob Seen")

        event = await feed.next()
        if who(event) == ("PERMISSION_CHANGE", "SUCCESS", "UserRole", "root"):
            event = await feed.next()  # the grant itself may pass while it is decided
        assert who(event) == ("UPDATE", "SUCCESS", "User", "ann"), (event, feed.received)
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "bob")


async def test_an_events_user_is_read_when_the_event_is_delivered(live: LiveApp) -> None:
    auditor = await with_role(live, "argus", "auditor")
    bob = await signed_in(live.http, "bob")
    async with live.connect() as ws:
        await open_as(live, ws, auditor.access_token)
        feed = await follow(live, ws)
        await renamed(live, bob, "Bob Before")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "bob")

        assert await update_profile(live, bob, username="robert") == []
        await renamed(live, bob, "Robert After")
        # Both rows are delivered after the rename committed: they name the user as he is now.
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "robert")
        assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "robert")


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_subscriptions_hold_no_database_connection_between_events(
    database_url: str, tmp_path: Path
) -> None:
    pool = {"database_pool_size": 2, "database_max_overflow": 0}
    async with live_app(database_url, tmp_path, database_pool_timeout_seconds=1, **pool) as live:
        auditor = await with_role(live, "argus", "auditor")
        dora = await signed_in(live.http, "dora")
        async with live.connect() as first, live.connect() as second:
            feeds = []
            for ws in (first, second):
                await open_as(live, ws, auditor.access_token)
                feeds.append(await follow(live, ws))
            await renamed(live, dora, "Dora One")
            for feed in feeds:  # resolving `user` reads the database
                assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "dora")

            # Two idle subscribers, a pool of two: HTTP must still get a connection.
            await renamed(live, dora, "Dora Two")
            for feed in feeds:
                assert who(await feed.next()) == ("UPDATE", "SUCCESS", "User", "dora")


async def _events_by_operation(ws: ClientConnection, count: int, after: int) -> dict[str, Any]:
    """The next `count` events on the connection, keyed by operation id."""
    found: dict[str, Any] = {}
    while len(found) < count:
        message = await receive(ws)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["auditEvents"]
        if event["sequence"] > after:
            assert message["id"] not in found, (message, found)
            found[message["id"]] = who(event)
    return found


@pytest.mark.parametrize("limit", [2, None])
async def test_a_connection_holds_at_most_ws_max_subscriptions(
    database_url: str, tmp_path: Path, limit: int | None
) -> None:
    overrides = {} if limit is None else {"ws_max_subscriptions": limit}
    async with live_app(database_url, tmp_path, **overrides) as live:
        cap = live.settings.ws_max_subscriptions
        assert cap == (limit or 10)
        auditor = await with_role(live, "argus", "auditor")
        dora = await signed_in(live.http, "dora")
        update = ("UPDATE", "SUCCESS", "User", "dora")
        async with live.connect() as ws:
            await open_as(live, ws, auditor.access_token)
            for n in range(cap):
                await follow(live, ws, operation_id=f"s{n}")
            listening = live.subscribers.active

            # Strawberry answers an operation over the cap with an `error` message for it and
            # keeps the connection open (no 4xxx close).
            await subscribe(ws, "over", EVENTS)
            assert await receive(ws) == {
                "id": "over",
                "type": "error",
                "payload": [{"message": "Subscription limit reached"}],
            }
            assert live.subscribers.active == listening

            after = await audit_head(live.database)
            await renamed(live, dora, "Dora One")
            assert await _events_by_operation(ws, cap, after) == {
                f"s{n}": update for n in range(cap)
            }

            # Completing one frees its place.
            await send(ws, {"id": "s0", "type": "complete"})
            await live.subscribers.reach(listening - 1)
            await follow(live, ws, operation_id="again")
            after = await audit_head(live.database)
            await renamed(live, dora, "Dora Two")
            expected = {f"s{n}": update for n in range(1, cap)} | {"again": update}
            assert await _events_by_operation(ws, cap, after) == expected


async def test_a_subscriber_gets_rows_in_order_then_too_slow_once_its_queue_overflowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "SUBSCRIBER_QUEUE_SIZE", 3)
    subscription = events.Subscription()
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing committed yet: it waits
    rows = [cast(AuditLog, f"row-{n}") for n in range(5)]
    for row in rows:  # the fifth does not fit: dropped, and the subscriber is marked
        subscription.offer(row)
    assert await waiting == "row-0"
    with pytest.raises(events.SubscriberTooSlow):
        await subscription.next()
