"""The response cache over HTTP: a repeated query is a hit, and no write ever leaves it stale.

Each test reads a dashboard (cached), writes, and reads again: the answer after the write is
the fresh one, because the write raised the data version of every user whose data it changed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import graph.extensions.response_cache
from db.session import Database
from tests.support.apps import app_with
from tests.support.audit import last_sequence, rows_after
from tests.support.identity import (
    STRONG_PASSWORD,
    SignedIn,
    gql,
    login,
    signed_in,
    signed_in_with_role,
)
from tests.support.money import create_holder, customer, move, ok, open_account, transfer
from tests.support.queries import count_statements

DASHBOARD = """
query Dashboard {
  me {
    id username email fullName updatedAt
    roles { name }
    sessions { id current lastUsedAt expiresAt }
    accountHolder { firstName lastName }
    accounts(first: 10) { edges { node {
      id status balance { amount currency }
      transactions(first: 10) { edges { node { amount { amount } type } } }
    } } }
  }
}
"""
CARDS = "query Cards { me { accounts { edges { node { cards { last4 status } } } } } }"
ISSUE_CARD = """
mutation($input: IssueCardInput!) { issueCard(input: $input) { card { id } errors { code } } }
"""
CARD_ACTION = "mutation($input: CardIdInput!) {{ {name}(input: $input) {{ errors {{ code }} }} }}"
FREEZE_ACCOUNT = """
mutation($input: AccountIdInput!) { freezeAccount(input: $input) { errors { code } } }
"""
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { errors { code } } }
"""
ROLE_CHANGE = (
    "mutation($input: RoleGrantInput!) {{ {name}(input: $input) {{ errors {{ code }} }} }}"
)
LOGOUT = "mutation { logout { revokedSessions } }"
REVOKE_SESSION = """
mutation($input: RevokeSessionInput!) { revokeSession(input: $input) { errors { code } } }
"""
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { errors { code } } }
"""
REFRESH = """
mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken } }
"""
NEW_PASSWORD = "An0ther-Stapler!Orbit"


def hits(app: Starlette) -> float:
    """Answers served from the cache so far."""
    return _sample(app, "ledgerql_response_cache_hits_total")


def misses(app: Starlette) -> float:
    """Cacheable queries executed so far."""
    return _sample(app, "ledgerql_response_cache_misses_total")


def _sample(app: Starlette, name: str) -> float:
    value = app.state.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return float(value)


async def dashboard(client: httpx.AsyncClient, user: SignedIn) -> dict[str, Any]:
    """The dashboard's `me`."""
    me: dict[str, Any] = (await ok(client, DASHBOARD, {}, user))["me"]
    return me


async def cached_dashboard(
    client: httpx.AsyncClient, app: Starlette, user: SignedIn
) -> dict[str, Any]:
    """Read the dashboard twice: the second read is a hit with the same answer; returns it."""
    first = await dashboard(client, user)
    before = hits(app)
    assert await dashboard(client, user) == first
    assert hits(app) == before + 1
    return first


def balances(me: dict[str, Any]) -> dict[str, int]:
    """Balance by account id."""
    return {
        edge["node"]["id"]: edge["node"]["balance"]["amount"] for edge in me["accounts"]["edges"]
    }


def statuses(me: dict[str, Any]) -> dict[str, str]:
    """Status by account id."""
    return {edge["node"]["id"]: edge["node"]["status"] for edge in me["accounts"]["edges"]}


def session_ids(me: dict[str, Any]) -> list[str]:
    """Ids of the listed sessions, sorted."""
    return sorted(session["id"] for session in me["sessions"])


async def test_a_repeated_query_is_a_hit_that_runs_only_authentication(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user, account = await customer(client, "ann")
    await move(client, user, "deposit", account, 500)
    first_misses = misses(app)
    first = await dashboard(client, user)
    assert misses(app) == first_misses + 1
    with count_statements(app.state.database.engine, transaction_control=True) as counter:
        again = await dashboard(client, user)
    assert again == first
    # The caller's authentication only, in the operation's snapshot (SQLite's BEGIN is sent as
    # SQL; asyncpg's is not seen by the cursor counter).
    statements = [statement for statement in counter.statements if statement != "BEGIN"]
    assert len(statements) == 1, counter.statements
    assert statements[0].startswith("SELECT auth_sessions.id"), statements
    assert hits(app) == 1
    metrics = (await client.get("/metrics")).text
    assert "ledgerql_response_cache_hits_total 1.0" in metrics
    assert "ledgerql_response_cache_entries " in metrics  # the cache is the schema's: shared
    assert "ledgerql_response_cache_bytes " in metrics


async def test_money_movements_are_seen_on_both_sides_after_they_commit(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ann, usd = await customer(client, "ann")
    savings = await open_account(client, ann, "USD", "SAVINGS")
    first = await cached_dashboard(client, app, ann)
    await move(client, ann, "deposit", usd, 1000)
    assert balances(await cached_dashboard(client, app, ann)) == {usd: 1000, savings: 0}
    await move(client, ann, "withdraw", usd, 100)
    assert balances(await cached_dashboard(client, app, ann)) == {usd: 900, savings: 0}
    moved = await transfer(client, ann, usd, savings, 200)  # only between one's own accounts
    assert moved["errors"] == [], moved
    after = await dashboard(client, ann)
    assert balances(after) == {usd: 700, savings: 200}
    lines = {
        edge["node"]["id"]: [line["node"]["amount"]["amount"]
                             for line in edge["node"]["transactions"]["edges"]]
        for edge in after["accounts"]["edges"]
    }  # fmt: skip
    assert lines == {usd: [200, 100, 1000], savings: [200]}
    assert after["updatedAt"] == first["updatedAt"]  # the version is not a profile change


async def test_account_and_card_changes_are_seen_at_once(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ann, usd = await customer(client, "ann")

    async def cards() -> list[dict[str, Any]]:
        data = await ok(client, CARDS, {}, ann)
        listed: list[dict[str, Any]] = data["me"]["accounts"]["edges"][0]["node"]["cards"]
        return listed

    assert await cards() == []
    assert await cards() == []
    issued = await ok(client, ISSUE_CARD, {"input": {"accountId": usd, "type": "DEBIT"}}, ann)
    card_id = issued["issueCard"]["card"]["id"]
    [card] = await cards()
    assert card["status"] == "ACTIVE"
    assert await cards() == [card]
    for action, status in (("freezeCard", "FROZEN"), ("cancelCard", "CANCELLED")):
        card_input = {"input": {"cardId": card_id}}
        done = await ok(client, CARD_ACTION.format(name=action), card_input, ann)
        assert done[action]["errors"] == [], done
        assert [listed["status"] for listed in await cards()] == [status]
    assert statuses(await cached_dashboard(client, app, ann)) == {usd: "ACTIVE"}
    frozen = await ok(client, FREEZE_ACCOUNT, {"input": {"accountId": usd}}, ann)
    assert frozen["freezeAccount"]["errors"] == [], frozen
    assert statuses(await dashboard(client, ann)) == {usd: "FROZEN"}


async def test_holder_and_profile_changes_are_seen_at_once(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ann = await signed_in(client, "ann")
    assert (await cached_dashboard(client, app, ann))["accountHolder"] is None
    await create_holder(client, ann, "Grace")
    me = await cached_dashboard(client, app, ann)
    assert me["accountHolder"] == {"firstName": "Grace", "lastName": "Lovelace"}
    account = await open_account(client, ann)
    assert balances(await cached_dashboard(client, app, ann)) == {account: 0}
    updated = await ok(client, UPDATE_PROFILE, {"input": {"fullName": "Ann Other"}}, ann)
    assert updated["updateProfile"]["errors"] == [], updated
    assert (await dashboard(client, ann))["fullName"] == "Ann Other"


async def test_role_changes_by_an_admin_are_seen_by_the_user(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann = await signed_in(client, "ann")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    assert (await cached_dashboard(client, app, ann))["roles"] == [{"name": "user"}]
    change = {"input": {"userId": ann.global_id, "role": "user"}}
    revoked = await ok(client, ROLE_CHANGE.format(name="revokeRole"), change, admin)
    assert revoked["revokeRole"]["errors"] == [], revoked
    assert (await cached_dashboard(client, app, ann))["roles"] == []
    granted = await ok(client, ROLE_CHANGE.format(name="assignRole"), change, admin)
    assert granted["assignRole"]["errors"] == [], granted
    assert (await dashboard(client, ann))["roles"] == [{"name": "user"}]


async def test_session_changes_are_seen_at_once(client: httpx.AsyncClient, app: Starlette) -> None:
    ann = await signed_in(client, "ann")
    [first] = session_ids(await cached_dashboard(client, app, ann))
    body = await login(client, "ann", STRONG_PASSWORD)
    phone_token = body["data"]["login"]["accessToken"]
    phone_refresh = body["data"]["login"]["refreshToken"]
    listed = session_ids(await cached_dashboard(client, app, ann))
    assert len(listed) == 2
    [second] = [session for session in listed if session != first]
    before = {s["id"]: s for s in (await dashboard(client, ann))["sessions"]}
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": phone_refresh}})
    assert "errors" not in refreshed, refreshed
    after = {s["id"]: s for s in (await cached_dashboard(client, app, ann))["sessions"]}
    assert after[second]["expiresAt"] != before[second]["expiresAt"]
    signed_out = await gql(client, LOGOUT, token=phone_token)
    assert signed_out["data"]["logout"]["revokedSessions"] == 1, signed_out
    assert session_ids(await cached_dashboard(client, app, ann)) == [first]
    third_token = (await login(client, "ann", STRONG_PASSWORD))["data"]["login"]["accessToken"]
    listed = session_ids(await cached_dashboard(client, app, ann))
    [third] = [session for session in listed if session != first]
    revoked = await ok(client, REVOKE_SESSION, {"input": {"sessionId": third}}, ann)
    assert revoked["revokeSession"]["errors"] == [], revoked
    assert session_ids(await cached_dashboard(client, app, ann)) == [first]
    await login(client, "ann", STRONG_PASSWORD)
    assert len(session_ids(await cached_dashboard(client, app, ann))) == 2
    change = {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD}}
    changed = await ok(client, CHANGE_PASSWORD, change, ann)
    assert changed["changePassword"]["errors"] == [], changed
    assert session_ids(await dashboard(client, ann)) == [first]  # the others were revoked
    assert "errors" in await gql(client, DASHBOARD, token=third_token)


async def test_a_write_through_another_instance_is_seen(
    client: httpx.AsyncClient, app: Starlette, database_url: str, tmp_path: Path
) -> None:
    ann, usd = await customer(client, "ann")
    await cached_dashboard(client, app, ann)
    async with app_with(database_url, tmp_path) as (other, _):
        await move(other, ann, "deposit", usd, 250)
    assert balances(await dashboard(client, ann)) == {usd: 250}


async def test_users_never_share_answers(client: httpx.AsyncClient, app: Starlette) -> None:
    ann, anns = await customer(client, "ann")
    bob, bobs = await customer(client, "bob")
    await move(client, ann, "deposit", anns, 10)
    assert balances(await cached_dashboard(client, app, ann)) == {anns: 10}
    me = await cached_dashboard(client, app, bob)
    assert (me["username"], balances(me)) == ("bob", {bobs: 0})


async def test_a_second_session_of_the_same_user_gets_its_own_answer(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ann = await signed_in(client, "ann")
    phone = (await login(client, "ann", STRONG_PASSWORD))["data"]["login"]["accessToken"]
    query = "query { me { sessions { id current } } }"
    laptop_view = (await ok(client, query, {}, ann))["me"]["sessions"]
    phone_view = (await gql(client, query, token=phone))["data"]["me"]["sessions"]
    assert sorted(s["current"] for s in laptop_view) == [False, True]
    current = {s["id"] for s in laptop_view if s["current"]}
    assert current.isdisjoint({s["id"] for s in phone_view if s["current"]})


async def test_answers_with_errors_are_not_stored(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, bobs = await customer(client, "bob")
    ann = await signed_in(client, "ann")
    query = "query($id: ID!) { account(id: $id) { id } }"
    for _ in range(2):
        body = await gql(client, query, {"id": bobs}, token=ann.access_token)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert (hits(app), misses(app)) == (0, 2)


async def test_admins_and_uncacheable_documents_are_never_served_from_the_cache(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    ann = await signed_in(client, "ann")
    for _ in range(2):
        await dashboard(client, admin)
        await ok(client, "query { me { id auditLogs(first: 1) { totalCount } } }", {}, ann)
        await ok(client, "query { health { status } }", {}, ann)
    assert (hits(app), misses(app)) == (0, 0)


async def test_a_hit_still_records_the_read_audit_rows(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann, usd = await customer(client, "ann")
    await ok(client, ISSUE_CARD, {"input": {"accountId": usd, "type": "DEBIT"}}, ann)
    before = await last_sequence(database)
    first = await ok(client, CARDS, {}, ann)
    with count_statements(app.state.database.engine) as counter:
        assert await ok(client, CARDS, {}, ann) == first
    assert hits(app) == 1
    assert not [sql for sql in counter.statements if "data_version" in sql and "UPDATE" in sql]
    reads = await rows_after(database, before, entity_type="Card")
    assert [(row["action"], row["user_id"]) for row in reads] == [("READ", ann.user_id)] * 2
    assert reads[0]["extra"] == reads[1]["extra"]
    assert reads[0]["request_id"] != reads[1]["request_id"]


async def test_response_cache_off_never_hits(database_url: str, tmp_path: Path) -> None:
    async with app_with(database_url, tmp_path, response_cache=False) as (client, app):
        ann = await signed_in(client, "ann")
        for _ in range(2):
            await dashboard(client, ann)
        assert (hits(app), misses(app)) == (0, 0)


async def test_a_listed_session_expiring_expires_the_answer(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await signed_in(client, "ann")
    me = await cached_dashboard(client, app, ann)
    [expires_at] = [datetime.fromisoformat(session["expiresAt"]) for session in me["sessions"]]
    monkeypatch.setattr(graph.extensions.response_cache, "utcnow", lambda: expires_at)
    before = (hits(app), misses(app))
    await dashboard(client, ann)
    assert (hits(app), misses(app)) == (before[0], before[1] + 1)


async def test_a_permission_to_see_everybody_ends_caching_for_that_user(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann = await signed_in(client, "ann")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await cached_dashboard(client, app, ann)
    grant = {"input": {"userId": ann.global_id, "role": "support"}}
    granted = await ok(client, ROLE_CHANGE.format(name="assignRole"), grant, admin)
    assert granted["assignRole"]["errors"] == [], granted
    before = (hits(app), misses(app))
    for _ in range(2):
        roles = (await dashboard(client, ann))["roles"]
        assert roles == [{"name": "support"}, {"name": "user"}]
    assert (hits(app), misses(app)) == before
