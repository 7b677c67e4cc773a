"""User management: updateProfile, (de)activation, soft deletion and role grants."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from db.base import INCLUDE_DELETED
from db.models import AuthSession, User
from db.repositories import identity as identity_repo
from db.services import identity as identity_service
from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.identity import (
    SignedIn,
    global_id,
    gql,
    login,
    register,
    signed_in,
    signed_in_with_role,
    user_uuid,
)

USER_FIELDS = "user { id username email fullName isActive isAdmin deletedAt roles { name } }"
ERRORS = "errors { code message field }"
UPDATE_PROFILE = f"""
mutation($input: UpdateProfileInput!) {{
  updateProfile(input: $input) {{ {USER_FIELDS} {ERRORS} }}
}}
"""
ME = "{ me { id username email fullName isAdmin } }"
BY_ID = {"deactivateUser", "activateUser", "deleteUser"}
BY_ROLE = {"assignRole", "revokeRole"}
NO_SUCH_USER = {"code": "NOT_FOUND", "message": "No such user.", "field": ["input", "userId"]}
LAST_ADMIN = {
    "code": "CONFLICT",
    "message": "The last active admin cannot be removed.",
    "field": ["input", "userId"],
}


def mutation(name: str) -> str:
    input_type = "UserIdInput" if name in BY_ID else "RoleGrantInput"
    return f"""
    mutation($input: {input_type}!) {{ {name}(input: $input) {{ {USER_FIELDS} {ERRORS} }} }}
    """


async def call(
    client: httpx.AsyncClient, caller: SignedIn, name: str, target: str, role: str = "admin"
) -> dict[str, Any]:
    """Run a management mutation on `target` (a global id); returns the whole body."""
    variables: dict[str, Any] = {"userId": target}
    if name in BY_ROLE:
        variables["role"] = role
    return await gql(client, mutation(name), {"input": variables}, token=caller.access_token)


async def succeeded(
    client: httpx.AsyncClient, caller: SignedIn, name: str, target: str, role: str = "admin"
) -> dict[str, Any]:
    body = await call(client, caller, name, target, role)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][name]
    assert payload["errors"] == [], payload
    user: dict[str, Any] = payload["user"]
    return user


async def refused(
    client: httpx.AsyncClient, caller: SignedIn, name: str, target: str, role: str = "admin"
) -> list[dict[str, Any]]:
    """The payload errors of a mutation that must change nothing (its `user` is null)."""
    body = await call(client, caller, name, target, role)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][name]
    assert payload["user"] is None, payload
    errors: list[dict[str, Any]] = payload["errors"]
    return errors


async def snapshot(database: Database, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything about a user that a management mutation could change, read from the DB."""
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = (
            select(User).where(User.id == user_id).execution_options(**{INCLUDE_DELETED: True})
        )
        user = (await session.execute(statement)).scalar_one()
        roles = await identity_repo.roles_of_users(session, [user_id])
        live_sessions = select(func.count()).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        return {
            "username": user.username, "email": user.email, "full_name": user.full_name,
            "is_active": user.is_active, "is_admin": user.is_admin,
            "deleted_at": user.deleted_at, "updated_at": user.updated_at,
            "roles": sorted(role.name for role in roles.get(user_id, [])),
            "live_sessions": (await session.execute(live_sessions)).scalar_one(),
        }  # fmt: skip


async def assert_signed_in(client: httpx.AsyncClient, user: SignedIn) -> None:
    body = await gql(client, ME, token=user.access_token)
    assert "errors" not in body, body
    assert body["data"]["me"]["username"] == user.username


async def assert_signed_out(client: httpx.AsyncClient, user: SignedIn) -> None:
    assert_top_level(await gql(client, ME, token=user.access_token), "UNAUTHENTICATED", 401)
    body = await gql(
        client,
        "mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { accessToken } }",
        {"t": user.refresh_token},
    )
    assert_top_level(body, "UNAUTHENTICATED", 401)


# --- updateProfile ---------------------------------------------------------------------------


async def update_profile(
    client: httpx.AsyncClient, caller: SignedIn, **changes: str
) -> dict[str, Any]:
    body = await gql(client, UPDATE_PROFILE, {"input": changes}, token=caller.access_token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["updateProfile"]
    return payload


async def test_update_profile_changes_name_email_and_username(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    payload = await update_profile(
        client, alice, fullName="  Alice Liddell ", email=" Alice.L@Example.COM ",
        username="alice_l",
    )  # fmt: skip
    assert payload["errors"] == []
    assert payload["user"]["username"] == "alice_l"
    assert payload["user"]["email"] == "alice.l@example.com"
    assert payload["user"]["fullName"] == "Alice Liddell"
    after = await snapshot(database, alice.user_id)
    assert (after["username"], after["email"], after["full_name"]) == (
        "alice_l", "alice.l@example.com", "Alice Liddell"
    )  # fmt: skip
    assert "errors" not in await login(client, "ALICE.L@example.com", alice.password)
    body = await gql(client, ME, token=alice.access_token)
    assert body["data"]["me"]["username"] == "alice_l"


async def test_update_profile_keeping_your_own_values_is_no_conflict(
    client: httpx.AsyncClient,
) -> None:
    alice = await signed_in(client, "alice")
    payload = await update_profile(client, alice, username="alice", email="ALICE@example.com")
    assert payload["errors"] == []
    assert payload["user"]["email"] == "alice@example.com"


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"email": "Bob@Example.com"}, [["input", "email"]]),
        ({"username": "bob"}, [["input", "username"]]),
        (
            {"username": "bob", "email": "bob@example.com"},
            [["input", "email"], ["input", "username"]],
        ),
    ],
)
async def test_update_profile_to_another_users_email_or_username_is_a_conflict(
    client: httpx.AsyncClient, database: Database, changes: dict[str, str], fields: list[Any]
) -> None:
    alice = await signed_in(client, "alice")
    bob = await signed_in(client, "bob")
    before = await snapshot(database, alice.user_id), await snapshot(database, bob.user_id)
    payload = await update_profile(client, alice, fullName="Changed", **changes)
    assert payload["user"] is None
    assert payload["errors"] == [
        {"code": "CONFLICT", "message": f"That {field[1]} is already taken.", "field": field}
        for field in fields
    ]
    assert (
        await snapshot(database, alice.user_id),
        await snapshot(database, bob.user_id),
    ) == before


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "sp ace@example.com"])
async def test_update_profile_with_an_invalid_email_fails_validation(
    client: httpx.AsyncClient, database: Database, email: str
) -> None:
    alice = await signed_in(client, "alice")
    before = await snapshot(database, alice.user_id)
    payload = await update_profile(client, alice, email=email, fullName="Changed")
    assert payload["user"] is None
    assert payload["errors"] == [
        {"code": "VALIDATION_FAILED", "message": "Email is not valid.", "field": ["input", "email"]}
    ]
    assert await snapshot(database, alice.user_id) == before


async def test_update_profile_needs_a_token(client: httpx.AsyncClient) -> None:
    body = await gql(client, UPDATE_PROFILE, {"input": {"fullName": "Nobody"}})
    assert_top_level(body, "UNAUTHENTICATED", 401)
    assert body["data"] is None


async def test_a_deleted_users_username_and_email_can_be_taken_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    carol = await signed_in(client, "carol")
    bob = await signed_in(client, "bob")
    for user in (alice, carol):
        async with database.unit_of_work() as uow, uow.write() as transaction:
            await identity_service.delete(transaction, user.user_id)
    again = await register(client, "alice")
    assert again["errors"] == []
    assert user_uuid(again["user"]["id"]) != alice.user_id
    assert again["user"]["email"] == "alice@example.com"
    payload = await update_profile(client, bob, username="carol", email="carol@example.com")
    assert payload["errors"] == []
    assert payload["user"]["username"] == "carol"
    assert (await snapshot(database, carol.user_id))["deleted_at"] is not None


# --- deactivateUser, activateUser, deleteUser ------------------------------------------------


async def test_deactivate_ends_sessions_and_activate_allows_sign_in_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    assert "errors" not in await login(client, "alice", alice.password)  # a second session
    assert (await snapshot(database, alice.user_id))["live_sessions"] == 2
    user = await succeeded(client, admin, "deactivateUser", alice.global_id)
    assert (user["username"], user["isActive"], user["deletedAt"]) == ("alice", False, None)
    state = await snapshot(database, alice.user_id)
    assert (state["is_active"], state["live_sessions"]) == (False, 0)
    await assert_signed_out(client, alice)
    assert_top_level(await login(client, "alice", alice.password), "INVALID_CREDENTIALS", 401)

    user = await succeeded(client, admin, "activateUser", alice.global_id)
    assert user["isActive"] is True
    assert user == await succeeded(client, admin, "activateUser", alice.global_id)  # idempotent
    assert "errors" not in await login(client, "alice", alice.password)
    assert_top_level(await gql(client, ME, token=alice.access_token), "UNAUTHENTICATED", 401)


async def test_delete_soft_deletes_hides_and_ends_sessions(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    support = await signed_in_with_role(client, database, "helper", "support")
    alice = await signed_in(client, "alice")
    user = await succeeded(client, admin, "deleteUser", alice.global_id)
    assert user["username"] == "alice"
    assert user["deletedAt"] is not None
    state = await snapshot(database, alice.user_id)
    assert state["deleted_at"] is not None
    assert state["live_sessions"] == 0
    await assert_signed_out(client, alice)
    assert_top_level(await login(client, "alice", alice.password), "INVALID_CREDENTIALS", 401)
    body = await gql(client, "query($id: ID!) { user(id: $id) { id } }", {"id": alice.global_id},
                     token=support.access_token)  # fmt: skip
    assert_top_level(body, "NOT_FOUND", 404)
    listed = "{ users(first: 100) { edges { node { username } } } }"
    body = await gql(client, listed, token=admin.access_token)
    assert [e["node"]["username"] for e in body["data"]["users"]["edges"]] == ["boss", "helper"]
    assert await refused(client, admin, "deleteUser", alice.global_id) == [NO_SUCH_USER]


@pytest.mark.parametrize("name", sorted(BY_ID | BY_ROLE))
async def test_an_unknown_user_is_not_found_in_the_payload(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    before = await snapshot(database, admin.user_id)
    unknown = global_id("User", uuid.uuid4())
    assert await refused(client, admin, name, unknown, role="support") == [NO_SUCH_USER]
    assert await snapshot(database, admin.user_id) == before


@pytest.mark.parametrize("caller_role", ["user", "auditor", "support"])
@pytest.mark.parametrize("name", sorted(BY_ID))
async def test_user_writes_need_users_write(
    client: httpx.AsyncClient, database: Database, caller_role: str, name: str
) -> None:
    caller = await signed_in_with_role(client, database, "caller", caller_role)
    target = await signed_in(client, "target")
    if name == "activateUser":
        async with database.unit_of_work() as uow, uow.write() as transaction:
            await identity_service.set_active(transaction, target.user_id, active=False)
    before = await snapshot(database, target.user_id)
    body = await call(client, caller, name, target.global_id)
    error = assert_top_level(body, "FORBIDDEN", 403)
    assert error["message"] == "Requires the `users:write` permission."
    assert body["data"] is None
    assert await snapshot(database, target.user_id) == before
    if name != "activateUser":
        await assert_signed_in(client, target)


@pytest.mark.parametrize("name", sorted(BY_ID | BY_ROLE))
async def test_a_malformed_user_id_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    before = await snapshot(database, admin.user_id)
    body = await call(client, admin, name, "not-an-id", role="support")
    assert_top_level(body, "BAD_REQUEST", 400)
    assert body["data"] is None
    assert await snapshot(database, admin.user_id) == before
