"""Identity queries: `me`, `user`, `node` for users, who may call `users`, `roles`, sessions."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.session import Database
from tests.support.identity import SignedIn, global_id, gql, signed_in, signed_in_with_role
from tests.support.queries import count_statements

USER = "query($id: ID!) { user(id: $id) { id username email } }"
NODE = "query($id: ID!) { node(id: $id) { __typename ... on User { username } } }"
USERS = """
query($first: Int, $after: String, $filter: UserFilter, $order: UserOrder) {
  users(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount
    edges { cursor node { id username deletedAt createdAt } }
    pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
  }
}
"""
ALL_PERMISSIONS = [
    "accounts:read", "audit:read", "holders:read", "roles:read",
    "roles:write", "sessions:read", "users:read", "users:write",
]  # fmt: skip


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single top-level error of a response."""
    assert len(body.get("errors") or []) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


def assert_top_level(body: dict[str, Any], code: str, status: int) -> dict[str, Any]:
    error = only_error(body)
    assert error["extensions"]["code"] == code, body
    assert error["extensions"]["status"] == status, body
    return error


def comparable(error: dict[str, Any]) -> dict[str, Any]:
    """An error object without what legitimately differs between two requests."""
    error = copy.deepcopy(error)
    error.pop("locations", None)
    error["extensions"].pop("requestId", None)
    return error


async def ok(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The data of a response that must have no errors."""
    body = await gql(client, query, variables, token=token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def users_page(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    data = await ok(client, USERS, variables, token)
    page: dict[str, Any] = data["users"]
    return page


def names(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["username"] for edge in page["edges"]]


async def all_names(client: httpx.AsyncClient, token: str, **variables: Any) -> list[str]:
    return names(await users_page(client, token, first=100, **variables))


# --- me, user, node --------------------------------------------------------------------------


async def test_me_returns_the_caller_and_needs_a_token(client: httpx.AsyncClient) -> None:
    alice = await signed_in(client, "alice")
    await signed_in(client, "bob")
    data = await ok(client, "{ me { id username email isAdmin } }", {}, alice.access_token)
    assert data["me"] == {
        "id": alice.global_id, "username": "alice", "email": "alice@example.com",
        "isAdmin": False,
    }  # fmt: skip
    body = await gql(client, "{ me { id } }")
    assert_top_level(body, "UNAUTHENTICATED", 401)
    assert body["data"] is None


async def test_user_by_id_for_self_and_for_every_users_read_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    data = await ok(client, USER, {"id": alice.global_id}, alice.access_token)
    assert data["user"] == {
        "id": alice.global_id, "username": "alice", "email": "alice@example.com"
    }  # fmt: skip
    for role in ("admin", "auditor", "support"):
        reader = await signed_in_with_role(client, database, f"{role}_reader", role)
        data = await ok(client, USER, {"id": alice.global_id}, reader.access_token)
        assert data["user"]["username"] == "alice", role


async def test_hidden_user_is_indistinguishable_from_an_unknown_one(
    client: httpx.AsyncClient,
) -> None:
    alice = await signed_in(client, "alice")
    bob = await signed_in(client, "bob")
    hidden = await gql(client, USER, {"id": bob.global_id}, token=alice.access_token)
    unknown = await gql(
        client, USER, {"id": global_id("User", uuid.uuid4())}, token=alice.access_token
    )
    error = assert_top_level(hidden, "NOT_FOUND", 404)
    assert_top_level(unknown, "NOT_FOUND", 404)
    assert error["path"] == ["user"]
    assert (error["message"], error["extensions"]["field"]) == ("No such user.", ["id"])
    assert hidden["data"] == unknown["data"] == {"user": None}
    assert comparable(error) == comparable(only_error(unknown))
    assert "bob" not in str(hidden)


@pytest.mark.parametrize("bad_id", ["garbage", "!!!", "VXNlcg"])
async def test_user_with_a_malformed_id_is_a_bad_request(
    client: httpx.AsyncClient, bad_id: str
) -> None:
    alice = await signed_in(client, "alice")
    body = await gql(client, USER, {"id": bad_id}, token=alice.access_token)
    assert_top_level(body, "BAD_REQUEST", 400)
    assert body["data"] == {"user": None}


async def test_node_returns_a_user_only_to_themselves_and_users_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    bob = await signed_in(client, "bob")
    support = await signed_in_with_role(client, database, "helper", "support")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    expected = {"node": {"__typename": "User", "username": "alice"}}
    for caller in (alice, support, admin):
        assert await ok(client, NODE, {"id": alice.global_id}, caller.access_token) == expected
    assert await ok(client, NODE, {"id": alice.global_id}, bob.access_token) == {"node": None}
    assert await ok(client, NODE, {"id": alice.global_id}, None) == {"node": None}
    unknown = global_id("User", uuid.uuid4())
    assert await ok(client, NODE, {"id": unknown}, admin.access_token) == {"node": None}


# --- users: authorization and connection shape -----------------------------------------------


async def test_users_needs_users_read(client: httpx.AsyncClient) -> None:
    alice = await signed_in(client, "alice")
    body = await gql(client, USERS, {}, token=alice.access_token)
    error = assert_top_level(body, "FORBIDDEN", 403)
    assert error["message"] == "Requires the `users:read` permission."
    assert body["data"] is None
    body = await gql(client, USERS, {})
    assert_top_level(body, "UNAUTHENTICATED", 401)
    assert body["data"] is None


# --- roles -----------------------------------------------------------------------------------

ROLES = "{ roles { id name description permissions } }"


async def test_roles_lists_every_role_with_its_permissions(
    client: httpx.AsyncClient, database: Database
) -> None:
    for role in ("admin", "auditor"):
        reader = await signed_in_with_role(client, database, f"{role}_reader", role)
        data = await ok(client, ROLES, {}, reader.access_token)
        granted = {row["name"]: row["permissions"] for row in data["roles"]}
        assert [row["name"] for row in data["roles"]] == ["admin", "auditor", "support", "user"]
        assert granted == {
            "admin": ALL_PERMISSIONS,
            "auditor": ["audit:read", "roles:read", "users:read"],
            "support": ["holders:read", "users:read"],
            "user": [],
        }
        assert all(row["description"] for row in data["roles"])


@pytest.mark.parametrize("role", ["user", "support"])
async def test_roles_needs_roles_read(
    client: httpx.AsyncClient, database: Database, role: str
) -> None:
    caller = await signed_in_with_role(client, database, "caller", role)
    body = await gql(client, ROLES, token=caller.access_token)
    error = assert_top_level(body, "FORBIDDEN", 403)
    assert error["message"] == "Requires the `roles:read` permission."
    assert body["data"] is None
    assert_top_level(await gql(client, ROLES), "UNAUTHENTICATED", 401)


# --- nested authorization: sessions ----------------------------------------------------------

SESSIONS_OF_ALL = """
{ users(first: 100) { edges { node { username sessions { id current } } } } }
"""
USER_SESSIONS = "query($id: ID!) { user(id: $id) { username sessions { id current } } }"
NODE_SESSIONS = "query($id: ID!) { node(id: $id) { ... on User { sessions { id } } } }"


async def sessions_by_name(client: httpx.AsyncClient, caller: SignedIn) -> dict[str, list[Any]]:
    data = await ok(client, SESSIONS_OF_ALL, {}, caller.access_token)
    return {edge["node"]["username"]: edge["node"]["sessions"] for edge in data["users"]["edges"]}


async def test_a_plain_user_sees_only_their_own_sessions(client: httpx.AsyncClient) -> None:
    alice = await signed_in(client, "alice")
    bob = await signed_in(client, "bob")
    own = await ok(client, "{ me { sessions { id current } } }", {}, alice.access_token)
    assert len(own["me"]["sessions"]) == 1
    assert own["me"]["sessions"][0]["current"] is True
    mine = await ok(client, USER_SESSIONS, {"id": alice.global_id}, alice.access_token)
    assert mine["user"]["sessions"] == own["me"]["sessions"]
    body = await gql(client, USER_SESSIONS, {"id": bob.global_id}, token=alice.access_token)
    assert_top_level(body, "NOT_FOUND", 404)
    assert body["data"] == {"user": None}
    data = await ok(client, NODE_SESSIONS, {"id": bob.global_id}, alice.access_token)
    assert data == {"node": None}
    body = await gql(client, SESSIONS_OF_ALL, token=alice.access_token)
    assert_top_level(body, "FORBIDDEN", 403)


async def test_other_users_sessions_need_sessions_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    support = await signed_in_with_role(client, database, "helper", "support")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    seen_by_admin = await sessions_by_name(client, admin)
    assert len(seen_by_admin["alice"]) == 1
    assert len(seen_by_admin["helper"]) == 1
    assert seen_by_admin["alice"][0]["current"] is False
    assert [s["current"] for s in seen_by_admin["boss"]] == [True]
    data = await ok(client, USER_SESSIONS, {"id": alice.global_id}, admin.access_token)
    assert data["user"]["sessions"] == seen_by_admin["alice"]

    seen_by_support = await sessions_by_name(client, support)
    assert seen_by_support["alice"] == []
    assert seen_by_support["boss"] == []
    assert len(seen_by_support["helper"]) == 1
    data = await ok(client, USER_SESSIONS, {"id": alice.global_id}, support.access_token)
    assert data["user"] == {"username": "alice", "sessions": []}
    data = await ok(client, NODE_SESSIONS, {"id": alice.global_id}, support.access_token)
    assert data == {"node": {"sessions": []}}
    assert alice.access_token  # alice's own session is still live and unaffected


async def test_me_reads_only_what_authentication_needs(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    """The user row read to authenticate primes the users loader: `me` adds no statement."""
    user = await signed_in(client, "frugal")
    with count_statements(app.state.database.engine, transaction_control=True) as counter:
        body = await gql(client, "{ me { id email username } }", token=user.access_token)
    assert body["data"]["me"] == {"id": user.global_id, "email": user.email, "username": "frugal"}
    # The session with its user and permissions: the one statement of the operation's snapshot
    # (SQLite's BEGIN is ours; asyncpg sends BEGIN and ROLLBACK out of the cursor's sight).
    begin = ["BEGIN"] if app.state.database.dialect == "sqlite" else []
    assert counter.statements[:-1] == begin, counter.statements
    assert "FROM auth_sessions JOIN users" in counter.statements[-1]
