"""Role grants, `isAdmin`, the last active admin, and the read-only auditor."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
import pytest

from db.repositories import identity as identity_repo
from db.services import identity as identity_service
from db.session import Database
from tests.identity.test_users_management import (
    BY_ID,
    BY_ROLE,
    LAST_ADMIN,
    ME,
    assert_signed_in,
    call,
    refused,
    snapshot,
    succeeded,
)
from tests.identity.test_users_queries import assert_top_level
from tests.support.identity import gql, signed_in, signed_in_with_role

# --- assignRole, revokeRole, isAdmin ---------------------------------------------------------


async def test_is_admin_follows_the_admin_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    listed = "{ users { totalCount } }"
    assert_top_level(await gql(client, listed, token=alice.access_token), "FORBIDDEN", 403)

    user = await succeeded(client, admin, "assignRole", alice.global_id, "admin")
    assert user["isAdmin"] is True
    assert [role["name"] for role in user["roles"]] == ["admin", "user"]
    assert (await snapshot(database, alice.user_id))["is_admin"] is True
    me = await gql(client, ME, token=alice.access_token)
    assert me["data"]["me"]["isAdmin"] is True
    assert "errors" not in await gql(client, listed, token=alice.access_token)  # same token

    user = await succeeded(client, admin, "revokeRole", alice.global_id, "admin")
    assert user["isAdmin"] is False
    assert [role["name"] for role in user["roles"]] == ["user"]
    state = await snapshot(database, alice.user_id)
    assert (state["is_admin"], state["roles"]) == (False, ["user"])
    me = await gql(client, ME, token=alice.access_token)
    assert me["data"]["me"]["isAdmin"] is False
    assert_top_level(await gql(client, listed, token=alice.access_token), "FORBIDDEN", 403)

    user = await succeeded(client, admin, "assignRole", alice.global_id, "admin")  # re-grant
    assert user["isAdmin"] is True


async def test_role_grants_are_idempotent(client: httpx.AsyncClient, database: Database) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    for _ in range(2):
        user = await succeeded(client, admin, "assignRole", alice.global_id, "support")
        assert [role["name"] for role in user["roles"]] == ["support", "user"]
    assert (await snapshot(database, alice.user_id))["roles"] == ["support", "user"]
    for _ in range(2):
        user = await succeeded(client, admin, "revokeRole", alice.global_id, "support")
        assert [role["name"] for role in user["roles"]] == ["user"]
    assert (await snapshot(database, alice.user_id))["roles"] == ["user"]


@pytest.mark.parametrize("name", sorted(BY_ROLE))
async def test_an_unknown_role_is_not_found_in_the_payload(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    before = await snapshot(database, alice.user_id)
    errors = await refused(client, admin, name, alice.global_id, role="superuser")
    assert errors == [{"code": "NOT_FOUND", "message": "No such role.", "field": ["input", "role"]}]
    assert await snapshot(database, alice.user_id) == before


@pytest.mark.parametrize("caller_role", ["user", "auditor", "support"])
async def test_role_grants_need_roles_write(
    client: httpx.AsyncClient, database: Database, caller_role: str
) -> None:
    caller = await signed_in_with_role(client, database, "caller", caller_role)
    admin = await signed_in_with_role(client, database, "boss", "admin")
    attempts = [
        ("assignRole", caller, "admin"),  # promoting yourself
        ("revokeRole", admin, "admin"),
        ("revokeRole", caller, caller_role),
    ]
    before = [await snapshot(database, user.user_id) for user in (caller, admin)]
    for name, target, role in attempts:
        body = await call(client, caller, name, target.global_id, role)
        error = assert_top_level(body, "FORBIDDEN", 403)
        assert error["message"] == "Requires the `roles:write` permission."
        assert body["data"] is None
    assert [await snapshot(database, user.user_id) for user in (caller, admin)] == before


async def test_the_auditor_reads_users_but_every_write_is_forbidden(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    target = await signed_in_with_role(client, database, "target", "support")
    body = await gql(client, "{ users { totalCount } }", token=auditor.access_token)
    assert body["data"]["users"]["totalCount"] == 2
    body = await gql(client, "query($id: ID!) { user(id: $id) { username } }",
                     {"id": target.global_id}, token=auditor.access_token)  # fmt: skip
    assert body["data"]["user"]["username"] == "target"
    before = [await snapshot(database, user.user_id) for user in (auditor, target)]
    for name in sorted(BY_ID | BY_ROLE):
        for who in (target, auditor):
            body = await call(client, auditor, name, who.global_id, role="admin")
            assert_top_level(body, "FORBIDDEN", 403)
            assert body["data"] is None
    assert [await snapshot(database, user.user_id) for user in (auditor, target)] == before
    await assert_signed_in(client, target)
    await assert_signed_in(client, auditor)


# --- the last active admin -------------------------------------------------------------------

REMOVALS = ["deactivateUser", "deleteUser", "revokeRole"]


@pytest.mark.parametrize("name", REMOVALS)
async def test_the_last_active_admin_cannot_be_removed(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await signed_in(client, "alice")
    before = await snapshot(database, admin.user_id)
    assert await refused(client, admin, name, admin.global_id, role="admin") == [LAST_ADMIN]
    state = await snapshot(database, admin.user_id)
    assert state == before
    assert (state["is_admin"], state["is_active"], state["deleted_at"]) == (True, True, None)
    await assert_signed_in(client, admin)


@pytest.mark.parametrize("name", REMOVALS)
async def test_an_admin_can_be_removed_while_another_stays(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    deputy = await signed_in_with_role(client, database, "deputy", "admin")
    user = await succeeded(client, admin, name, admin.global_id, role="admin")
    state = await snapshot(database, admin.user_id)
    removed = {
        "deactivateUser": not state["is_active"] and user["isActive"] is False,
        "deleteUser": state["deleted_at"] is not None and user["deletedAt"] is not None,
        "revokeRole": not state["is_admin"] and user["isAdmin"] is False,
    }
    assert removed[name], (user, state)
    assert (await snapshot(database, deputy.user_id))["is_admin"] is True
    # deputy is now the last active admin
    assert await refused(client, deputy, name, deputy.global_id, role="admin") == [LAST_ADMIN]


async def test_an_inactive_admin_does_not_count_as_another_admin(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    dormant = await signed_in_with_role(client, database, "dormant", "admin")
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.set_active(transaction, dormant.user_id, active=False)
    for name in REMOVALS:
        assert await refused(client, admin, name, admin.global_id, role="admin") == [LAST_ADMIN]
    state = await snapshot(database, admin.user_id)
    assert (state["is_admin"], state["is_active"], state["deleted_at"]) == (True, True, None)
    assert (await snapshot(database, dormant.user_id))["is_active"] is False


async def test_two_admins_removing_themselves_at_once_leave_one_admin(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests pass the "another admin is active" check before either commits."""
    first = await signed_in_with_role(client, database, "admin_a", "admin")
    second = await signed_in_with_role(client, database, "admin_b", "admin")
    original = identity_repo.active_admin_ids
    arrived = 0
    both_checked = asyncio.Event()

    async def check_then_wait(session: Any) -> set[uuid.UUID]:
        nonlocal arrived
        result = await original(session)
        arrived += 1
        if arrived == 2:
            both_checked.set()
        # A correct implementation serializes the checks, so the other one never arrives here.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_checked.wait(), timeout=1)
        return result

    monkeypatch.setattr(identity_repo, "active_admin_ids", check_then_wait)
    bodies = await asyncio.gather(
        call(client, first, "deactivateUser", first.global_id),
        call(client, second, "deactivateUser", second.global_id),
    )
    states = [await snapshot(database, admin.user_id) for admin in (first, second)]
    active = [state["is_active"] for state in states]
    assert sorted(active) == [False, True], (bodies, active)
    refusals = [body["data"]["deactivateUser"]["errors"] for body in bodies if body.get("data")]
    assert [LAST_ADMIN] in refusals, bodies
