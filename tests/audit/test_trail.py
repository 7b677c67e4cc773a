"""The audit trail: what is recorded, immutability, tamper evidence, and reading it back.

Rows are inspected through the database behind the application's back (`tests.support.audit`)
or through `auditLogs` / `auditChain` / `me.auditLogs`; every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from db.audit.chain import chain_hash, keyed_hash, verify
from db.base import INCLUDE_DELETED, utcnow
from db.models import AuditLog, AuthSession, Role, User
from db.repositories import identity as identity_repo
from db.repositories.pages import encode_cursor
from db.session import Database
from tests.identity.test_users_management import LAST_ADMIN, refused, succeeded
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import (
    AUDIT_CHAIN,
    AUDIT_LOGS,
    audit_chain,
    audit_logs,
    audit_rows,
    client_with,
    drop_immutability_triggers,
    execute_raw,
    last_sequence,
    rows_after,
    sequences,
    serialized,
)
from tests.support.identity import (
    REGISTER,
    STRONG_PASSWORD,
    SignedIn,
    global_id,
    gql,
    login,
    register,
    signed_in,
    signed_in_with_role,
    user_uuid,
)
from tests.support.queries import count_statements

WRONG_PASSWORD = "Wrong-Passw0rd!-x9"
NEW_PASSWORD = "Brand-New-Passw0rd!"
USER_AGENT = "ledgerql-audit-tests/1.0"
REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken }
}
"""
LOGOUT = """
mutation Logout($input: LogoutInput) { logout(input: $input) { revokedSessions errors { code } } }
"""
CHANGE_PASSWORD = """
mutation Change($input: ChangePasswordInput!) {
  changePassword(input: $input) { user { id } errors { code message field } }
}
"""
UPDATE_PROFILE = """
mutation Profile($input: UpdateProfileInput!) {
  updateProfile(input: $input) { user { id } errors { code message field } }
}
"""
USER_BY_ID = "query Profile($id: ID!) { user(id: $id) { username } }"
ME = "query Me { me { username } }"
ME_AUDIT = """
query MyTrail($first: Int, $after: String, $filter: AuditLogFilter) {
  me { auditLogs(first: $first, after: $after, filter: $filter) {
    totalCount edges { node { sequence action user { username } } }
  } }
}
"""
USER_AUDIT = """
query TheirTrail($id: ID!) {
  user(id: $id) { auditLogs(first: 50) { totalCount edges { node { sequence action } } } }
}
"""
NODE = """
query Node($id: ID!) { node(id: $id) { __typename ... on AuditLog { sequence action } } }
"""


def request_id(body: dict[str, Any]) -> str:
    """The request id a response body carries in its extensions."""
    value: str = body["extensions"]["requestId"]
    return value


async def rows_of(database: Database, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit rows written by the request that produced `body`."""
    return await audit_rows(database, request_id=request_id(body))


def actions(rows: list[dict[str, Any]]) -> list[str]:
    return [row["action"] for row in rows]


async def user_record(database: Database, user_id: uuid.UUID) -> User:
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(User).where(User.id == user_id)
        result = await session.execute(statement.execution_options(**{INCLUDE_DELETED: True}))
        return result.scalar_one()


async def role_id(database: Database, name: str) -> uuid.UUID:
    async with database.unit_of_work() as uow, uow.read() as session:
        role = await identity_repo.role_by_name(session, name)
        assert role is not None
        return role.id


async def user_count(database: Database) -> int:
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(func.count()).select_from(User)
        result = await session.execute(statement.execution_options(**{INCLUDE_DELETED: True}))
        return int(result.scalar_one())


async def fail_logins(client: httpx.AsyncClient, username: str, times: int) -> None:
    for _ in range(times):
        body = await login(client, username, WRONG_PASSWORD)
        assert_top_level(body, "INVALID_CREDENTIALS", 401)


async def forge_row(database: Database, sequence: int, previous_hash: str) -> str:
    """Insert a well-formed row hashed with the real key behind the application's back."""
    row: dict[str, Any] = {
        "sequence": sequence, "id": uuid.uuid4(), "user_id": None, "action": "LOGIN",
        "entity_type": "User", "entity_id": None, "old_values": None, "new_values": None,
        "description": "forged", "ip_address": None, "user_agent": None, "status": "SUCCESS",
        "error_message": None, "request_id": None, "created_at": utcnow(), "extra": None,
    }  # fmt: skip
    row["key_id"] = database.audit_keys.current_id
    row["previous_hash"] = previous_hash
    row["hash"] = keyed_hash(database.audit_keys, row["key_id"], previous_hash, row)
    async with database.write_session() as session, session.begin():
        await session.execute(insert(AuditLog), [row])
    return str(row["hash"])


async def trail_of_seven(client: httpx.AsyncClient, database: Database) -> SignedIn:
    """An auditor plus one more user: seven rows (sign-ups, grants, logins); the auditor."""
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    await signed_in(client, "alice")
    assert [row["sequence"] for row in await audit_rows(database)] == [1, 2, 3, 4, 5, 6, 7]
    return auditor


# --- changes: create, update, delete, permission changes -------------------------------------


async def test_register_records_the_new_user_as_its_own_actor_without_secrets(
    client: httpx.AsyncClient, database: Database
) -> None:
    variables = {"input": {"username": "alice", "email": "Alice@Example.com",
                           "password": STRONG_PASSWORD, "fullName": "Alice Liddell"}}  # fmt: skip
    body = await gql(client, REGISTER, variables, headers={"user-agent": USER_AGENT})
    assert body["data"]["register"]["errors"] == []
    alice = await user_record(database, user_uuid(body["data"]["register"]["user"]["id"]))
    created, granted = await rows_of(database, body)
    common = {
        "user_id": alice.id, "status": "SUCCESS", "error_message": None,
        "ip_address": "127.0.0.1", "user_agent": USER_AGENT, "request_id": request_id(body),
        "old_values": None,
    }  # fmt: skip
    assert {key: created[key] for key in common} == common
    assert (created["sequence"], created["action"]) == (1, "CREATE")
    assert created["description"] == "created"
    assert (created["entity_type"], created["entity_id"]) == ("User", str(alice.id))
    assert created["new_values"] == {
        "id": str(alice.id), "username": "alice", "email": "alice@example.com",
        "full_name": "Alice Liddell", "is_active": True,
    }  # fmt: skip
    assert {key: granted[key] for key in common} == common
    assert (granted["sequence"], granted["action"]) == (2, "PERMISSION_CHANGE")
    assert (granted["entity_type"], granted["description"]) == ("UserRole", "granted")
    assert granted["new_values"] == {
        "id": granted["entity_id"], "user_id": str(alice.id),
        "role_id": str(await role_id(database, "user")),
    }  # fmt: skip
    for row in (created, granted):
        text = serialized(row)
        assert "password" not in text
        assert STRONG_PASSWORD not in text
        assert alice.password_hash not in text


async def test_a_client_request_id_is_recorded_on_the_rows_of_its_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    variables = {"input": {"username": "bob", "email": "bob@example.com",
                           "password": STRONG_PASSWORD, "fullName": ""}}  # fmt: skip
    response = await client.post(
        "/graphql",
        json={"query": REGISTER, "variables": variables},
        headers={"x-request-id": "audit-test-request-0001"},
    )
    assert response.headers["x-request-id"] == "audit-test-request-0001"
    rows = await audit_rows(database)
    assert [(row["action"], row["request_id"]) for row in rows] == [
        ("CREATE", "audit-test-request-0001"), ("PERMISSION_CHANGE", "audit-test-request-0001"),
    ]  # fmt: skip


async def test_update_profile_records_only_the_changed_fields(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    changes = {"fullName": "Alice Liddell", "email": "Alice.L@Example.com", "username": "alice"}
    body = await gql(client, UPDATE_PROFILE, {"input": changes}, token=alice.access_token)
    assert body["data"]["updateProfile"]["errors"] == []
    [row] = await rows_of(database, body)
    assert (row["action"], row["description"], row["status"]) == ("UPDATE", "updated", "SUCCESS")
    assert (row["user_id"], row["entity_type"], row["entity_id"]) == (
        alice.user_id, "User", str(alice.user_id)
    )  # fmt: skip
    assert row["old_values"] == {"full_name": "", "email": "alice@example.com"}
    assert row["new_values"] == {"full_name": "Alice Liddell", "email": "alice.l@example.com"}


async def test_an_update_that_changes_nothing_records_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    same = {"username": "alice", "email": "ALICE@example.com", "fullName": ""}
    body = await gql(client, UPDATE_PROFILE, {"input": same}, token=alice.access_token)
    assert body["data"]["updateProfile"]["errors"] == []
    assert await rows_after(database, before) == []


async def test_assign_and_revoke_role_are_permission_changes_by_the_admin(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    support = str(await role_id(database, "support"))
    before = await last_sequence(database)
    await succeeded(client, admin, "assignRole", alice.global_id, "support")
    await succeeded(client, admin, "assignRole", alice.global_id, "support")  # idempotent
    await succeeded(client, admin, "revokeRole", alice.global_id, "support")
    await succeeded(client, admin, "revokeRole", alice.global_id, "support")  # idempotent
    granted, revoked = await rows_after(database, before)
    for row in (granted, revoked):
        assert (row["action"], row["user_id"], row["status"]) == (
            "PERMISSION_CHANGE", admin.user_id, "SUCCESS"
        )  # fmt: skip
        assert row["entity_type"] == "UserRole"
    assert granted["entity_id"] == revoked["entity_id"]
    assert (granted["description"], granted["old_values"]) == ("granted", None)
    assert granted["new_values"] == {
        "id": granted["entity_id"], "user_id": str(alice.user_id), "role_id": support
    }  # fmt: skip
    assert revoked["description"] == "revoked"
    assert revoked["old_values"] == {"deleted_at": None}
    assert list(revoked["new_values"]) == ["deleted_at"]
    assert datetime.fromisoformat(revoked["new_values"]["deleted_at"]).tzinfo is not None


async def test_deactivation_and_activation_are_permission_changes_by_the_admin(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    await succeeded(client, admin, "deactivateUser", alice.global_id)
    await succeeded(client, admin, "activateUser", alice.global_id)
    rows = await rows_after(database, before)
    assert [
        (row["action"], row["user_id"], row["entity_type"], row["entity_id"], row["description"],
         row["old_values"], row["new_values"])
        for row in rows
    ] == [
        ("PERMISSION_CHANGE", admin.user_id, "User", str(alice.user_id), "access changed",
         {"is_active": True}, {"is_active": False}),
        ("PERMISSION_CHANGE", admin.user_id, "User", str(alice.user_id), "access changed",
         {"is_active": False}, {"is_active": True}),
    ]  # fmt: skip


async def test_deleting_a_user_records_a_delete_by_the_admin(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    user = await succeeded(client, admin, "deleteUser", alice.global_id)
    [row] = await rows_after(database, before)
    assert (row["action"], row["user_id"], row["description"], row["status"]) == (
        "DELETE", admin.user_id, "deleted", "SUCCESS"
    )  # fmt: skip
    assert (row["entity_type"], row["entity_id"]) == ("User", str(alice.user_id))
    assert row["old_values"] == {"deleted_at": None}
    stored = await user_record(database, alice.user_id)
    assert stored.deleted_at is not None
    assert row["new_values"] == {"deleted_at": stored.deleted_at.isoformat()}
    assert datetime.fromisoformat(user["deletedAt"]) == stored.deleted_at


async def test_a_refused_management_mutation_records_no_change(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    before = await last_sequence(database)
    for name in ("deactivateUser", "deleteUser", "revokeRole"):
        assert await refused(client, admin, name, admin.global_id, role="admin") == [LAST_ADMIN]
    assert await rows_after(database, before) == []


async def test_a_duplicate_registration_leaves_no_create_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "alice")
    before = await last_sequence(database)
    payload = await register(client, "alice", email="other@example.com")
    assert payload["user"] is None
    assert [error["code"] for error in payload["errors"]] == ["CONFLICT"]
    assert await rows_after(database, before) == []
    assert await user_count(database) == 1


async def test_a_write_that_fails_after_its_flush_leaves_neither_change_nor_row(
    client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CREATE entry is queued at the user's flush; the failure after it rolls both back."""

    async def broken(*_args: Any, **_kwargs: Any) -> Role | None:
        raise RuntimeError("the role lookup broke")

    monkeypatch.setattr(identity_repo, "role_by_name", broken)
    body = await gql(
        client, REGISTER,
        {"input": {"username": "alice", "email": "alice@example.com",
                   "password": STRONG_PASSWORD, "fullName": ""}},
    )  # fmt: skip
    assert_top_level(body, "INTERNAL", 500)
    assert await user_count(database) == 0
    assert await audit_rows(database) == []
    monkeypatch.undo()
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    assert (await audit_chain(client, auditor.access_token))["valid"] is True


# --- authentication events -------------------------------------------------------------------


async def test_login_records_login_and_leaves_sign_in_bookkeeping_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "alice")
    body = await gql(
        client,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"username": "alice@example.com", "password": STRONG_PASSWORD}},
        headers={"user-agent": USER_AGENT},
    )
    assert "errors" not in body, body
    [row] = await rows_of(database, body)  # no UPDATE for last_login_at
    alice = await user_record(database, (await audit_rows(database))[0]["user_id"])
    async with database.unit_of_work() as uow, uow.read() as session:
        [session_id] = (
            await session.execute(select(AuthSession.id).where(AuthSession.user_id == alice.id))
        ).scalars()
    assert alice.last_login_at is not None
    assert (row["action"], row["status"], row["user_id"]) == ("LOGIN", "SUCCESS", alice.id)
    assert (row["entity_type"], row["entity_id"]) == ("User", str(alice.id))
    assert row["extra"] == {"session_id": str(session_id)}
    assert (row["ip_address"], row["user_agent"]) == ("127.0.0.1", USER_AGENT)
    assert (row["old_values"], row["new_values"], row["error_message"]) == (None, None, None)


async def test_a_wrong_password_records_login_failed_without_the_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    body = await login(client, "alice", WRONG_PASSWORD)
    assert_top_level(body, "INVALID_CREDENTIALS", 401)
    [row] = await rows_of(database, body)  # no UPDATE for failed_login_count
    assert (await user_record(database, alice.user_id)).failed_login_count == 1
    assert (row["action"], row["status"], row["error_message"]) == (
        "LOGIN_FAILED", "FAILURE", "wrong password"
    )  # fmt: skip
    assert (row["user_id"], row["entity_type"], row["entity_id"]) == (
        alice.user_id, "User", str(alice.user_id)
    )  # fmt: skip
    assert row["extra"] == {"attempted_login": "alice"}
    for stored in await audit_rows(database):
        assert WRONG_PASSWORD not in serialized(stored)
        assert STRONG_PASSWORD not in serialized(stored)


async def test_an_unknown_user_records_login_failed_without_a_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await login(client, "ghost@example.com", WRONG_PASSWORD)
    assert_top_level(body, "INVALID_CREDENTIALS", 401)
    [row] = await audit_rows(database)
    assert row["request_id"] == request_id(body)
    assert (row["action"], row["status"], row["error_message"]) == (
        "LOGIN_FAILED", "FAILURE", "unknown user"
    )  # fmt: skip
    assert (row["user_id"], row["entity_type"], row["entity_id"]) == (None, "User", None)
    assert row["extra"] == {"attempted_login": "ghost@example.com"}
    assert WRONG_PASSWORD not in serialized(row)


async def test_the_fifth_failure_records_account_locked_and_later_logins_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    await fail_logins(client, "alice", 5)
    rows = await rows_after(database, before)
    assert [(row["action"], row["status"], row["error_message"]) for row in rows] == [
        ("LOGIN_FAILED", "FAILURE", "wrong password")
    ] * 5 + [("ACCOUNT_LOCKED", "FAILURE", None)]
    locked = rows[-1]
    assert locked["request_id"] == rows[-2]["request_id"]
    assert (locked["user_id"], locked["entity_id"]) == (alice.user_id, str(alice.user_id))
    assert locked["description"] == "locked after 5 failed logins"
    stored = await user_record(database, alice.user_id)
    assert stored.locked_until is not None
    assert locked["extra"] == {"locked_until": stored.locked_until.isoformat()}

    body = await login(client, "alice", STRONG_PASSWORD)
    assert_top_level(body, "ACCOUNT_LOCKED", 423)
    [refusal] = await rows_of(database, body)
    assert (refusal["action"], refusal["status"], refusal["error_message"]) == (
        "LOGIN_FAILED", "FAILURE", "account locked"
    )  # fmt: skip
    assert refusal["extra"] == {"attempted_login": "alice"}


async def test_a_deactivated_user_signing_in_records_login_failed(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    alice = await signed_in(client, "alice")
    await succeeded(client, admin, "deactivateUser", alice.global_id)
    body = await login(client, "alice", STRONG_PASSWORD)
    assert_top_level(body, "INVALID_CREDENTIALS", 401)
    [row] = await rows_of(database, body)
    assert (row["action"], row["status"], row["error_message"], row["user_id"]) == (
        "LOGIN_FAILED", "FAILURE", "account deactivated", alice.user_id
    )  # fmt: skip
    assert row["extra"] == {"attempted_login": "alice"}


async def test_logout_records_logout(client: httpx.AsyncClient, database: Database) -> None:
    alice = await signed_in(client, "alice")
    [login_row] = await audit_rows(database, action="LOGIN")
    body = await gql(client, LOGOUT, {"input": {}}, token=alice.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 1, "errors": []}
    [row] = await rows_of(database, body)
    assert (row["action"], row["status"], row["user_id"]) == ("LOGOUT", "SUCCESS", alice.user_id)
    assert row["extra"] == {
        "session_id": login_row["extra"]["session_id"], "all_sessions": False,
        "revoked_sessions": 1,
    }  # fmt: skip


async def test_a_refresh_records_token_refresh(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    [login_row] = await audit_rows(database, action="LOGIN")
    body = await gql(client, REFRESH, {"input": {"refreshToken": alice.refresh_token}})
    assert "errors" not in body, body
    [row] = await rows_of(database, body)
    assert (row["action"], row["status"], row["user_id"]) == (
        "TOKEN_REFRESH", "SUCCESS", alice.user_id
    )  # fmt: skip
    assert row["extra"] == {"session_id": login_row["extra"]["session_id"]}
    for stored in await audit_rows(database):
        assert alice.refresh_token not in serialized(stored)
        assert body["data"]["refreshToken"]["refreshToken"] not in serialized(stored)


async def test_presenting_a_spent_refresh_token_records_token_reuse(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    first = await gql(client, REFRESH, {"input": {"refreshToken": alice.refresh_token}})
    assert "errors" not in first, first
    reused = await gql(client, REFRESH, {"input": {"refreshToken": alice.refresh_token}})
    assert_top_level(reused, "UNAUTHENTICATED", 401)
    [row] = await rows_of(database, reused)
    assert (row["action"], row["status"], row["user_id"]) == (
        "TOKEN_REUSE", "FAILURE", alice.user_id
    )  # fmt: skip
    assert row["description"] == "a spent refresh token was presented; session revoked"
    [login_row] = await audit_rows(database, action="LOGIN")
    assert row["extra"] == {"session_id": login_row["extra"]["session_id"]}


async def test_a_refused_refresh_records_its_failure_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    async with database.unit_of_work() as uow, uow.write() as session:
        statement = update(User).where(User.id == alice.user_id).values(is_active=False)
        await session.execute(statement.execution_options(synchronize_session=False))
    body = await gql(client, REFRESH, {"input": {"refreshToken": alice.refresh_token}})
    assert_top_level(body, "UNAUTHENTICATED", 401)
    [row] = await rows_of(database, body)
    assert (row["action"], row["status"], row["error_message"], row["user_id"]) == (
        "TOKEN_REFRESH", "FAILURE", "session ended", alice.user_id
    )  # fmt: skip


async def test_a_wrong_current_password_records_a_failed_password_change(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    variables = {"input": {"currentPassword": WRONG_PASSWORD, "newPassword": NEW_PASSWORD}}
    body = await gql(client, CHANGE_PASSWORD, variables, token=alice.access_token)
    payload = body["data"]["changePassword"]
    assert payload["user"] is None
    assert [error["code"] for error in payload["errors"]] == ["VALIDATION_FAILED"]
    [row] = await rows_of(database, body)
    assert (row["action"], row["status"], row["error_message"], row["user_id"]) == (
        "PASSWORD_CHANGE", "FAILURE", "wrong current password", alice.user_id
    )  # fmt: skip
    for secret in (WRONG_PASSWORD, NEW_PASSWORD, STRONG_PASSWORD):
        assert secret not in serialized(row)


async def test_a_password_change_is_recorded_without_any_hash(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    old_hash = (await user_record(database, alice.user_id)).password_hash
    variables = {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD}}
    body = await gql(client, CHANGE_PASSWORD, variables, token=alice.access_token)
    assert body["data"]["changePassword"]["errors"] == []
    [row] = await rows_of(database, body)  # no UPDATE for password_hash/password_changed_at
    assert (row["action"], row["status"], row["user_id"], row["error_message"]) == (
        "PASSWORD_CHANGE", "SUCCESS", alice.user_id, None
    )  # fmt: skip
    assert row["extra"] == {"revoked_sessions": 0}
    new_hash = (await user_record(database, alice.user_id)).password_hash
    for stored in await audit_rows(database):
        text = serialized(stored)
        for secret in (old_hash, new_hash, STRONG_PASSWORD, NEW_PASSWORD):
            assert secret not in text


async def test_concurrent_writers_keep_the_chain_gapless_and_each_request_together(
    client: httpx.AsyncClient, database: Database
) -> None:
    names = [f"member{index}" for index in range(8)]
    payloads = await asyncio.gather(*(register(client, name) for name in names))
    assert [payload["errors"] for payload in payloads] == [[]] * 8
    rows = await audit_rows(database)
    assert [row["sequence"] for row in rows] == list(range(1, 17))
    for created, granted in zip(rows[::2], rows[1::2], strict=True):
        assert (created["action"], granted["action"]) == ("CREATE", "PERMISSION_CHANGE")
        assert created["request_id"] == granted["request_id"]
        assert created["user_id"] == granted["user_id"]
    assert sorted(row["new_values"]["username"] for row in rows[::2]) == names
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["checkedEntries"]) == (True, 20)


# --- immutability ----------------------------------------------------------------------------


async def test_the_database_refuses_to_update_audit_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "alice")
    before = await audit_rows(database)
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(database, "UPDATE audit_logs SET action = 'X'")
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(
            database, "UPDATE audit_logs SET description = 'edited' WHERE sequence = :s", s=2
        )
    assert await audit_rows(database) == before


async def test_the_database_refuses_to_delete_audit_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "alice")
    before = await audit_rows(database)
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(database, "DELETE FROM audit_logs WHERE sequence = :s", s=3)
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(database, "DELETE FROM audit_logs")
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(database, "DELETE FROM audit_chain_head")
    assert await audit_rows(database) == before
    assert len(before) == 3


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_refuses_to_truncate_audit_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "alice")
    before = await audit_rows(database)
    with pytest.raises(DBAPIError, match="is not allowed"):
        await execute_raw(database, "TRUNCATE audit_logs")
    assert await audit_rows(database) == before


# --- tamper evidence -------------------------------------------------------------------------


async def test_an_untouched_chain_is_valid_and_every_hash_links(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    rows = await audit_rows(database)
    status = await audit_chain(client, auditor.access_token)
    assert status == {
        "valid": True, "checkedEntries": 7, "firstBrokenSequence": None,
        "headHash": rows[-1]["hash"],
    }  # fmt: skip
    previous = "0" * 64
    for row in rows:
        assert row["previous_hash"] == previous
        assert row["key_id"] == database.audit_keys.current_id
        assert row["hash"] == keyed_hash(database.audit_keys, row["key_id"], previous, row)
        assert row["hash"] != chain_hash(previous, row)  # the unkeyed rule no longer fits
        previous = row["hash"]
    # the check itself was recorded (a READ row), and the chain still holds with it
    again = await audit_chain(client, auditor.access_token)
    assert (again["valid"], again["checkedEntries"]) == (True, 8)


@pytest.mark.parametrize(
    ("column", "value"),
    [("description", "nothing to see here"), ("action", "READ"), ("status", "FAILURE")],
)
async def test_an_altered_row_breaks_the_chain_at_that_row(
    client: httpx.AsyncClient, database: Database, column: str, value: str
) -> None:
    auditor = await trail_of_seven(client, database)
    await drop_immutability_triggers(database)
    statement = f"UPDATE audit_logs SET {column} = :v WHERE sequence = 4"  # noqa: S608
    await execute_raw(database, statement, v=value)
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 4, 3
    )  # fmt: skip


async def test_an_altered_row_with_a_recomputed_hash_breaks_the_chain_at_the_next_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    await drop_immutability_triggers(database)
    row = (await audit_rows(database, sequence=4))[0]
    row["description"] = "rewritten"
    forged = keyed_hash(database.audit_keys, row["key_id"], row["previous_hash"], row)
    await execute_raw(
        database, "UPDATE audit_logs SET description = :d, hash = :h WHERE sequence = 4",
        d="rewritten", h=forged,
    )  # fmt: skip
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["firstBrokenSequence"]) == (False, 5)


async def test_a_deleted_middle_row_breaks_the_chain_at_its_sequence(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    await drop_immutability_triggers(database)
    await execute_raw(database, "DELETE FROM audit_logs WHERE sequence = 4")
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 4, 3
    )  # fmt: skip


async def test_a_deleted_last_row_breaks_the_chain_at_its_sequence(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    await drop_immutability_triggers(database)
    await execute_raw(database, "DELETE FROM audit_logs WHERE sequence = 7")
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 7, 6
    )  # fmt: skip


async def test_a_forged_row_appended_at_the_end_breaks_the_chain_there(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Even a correctly hashed forgery is caught: the chain head does not know it.

    The trail cannot grow past it either, so a read that must be audited (the chain check
    itself) answers UNAVAILABLE rather than its data; the check runs behind the API's back.
    """
    auditor = await trail_of_seven(client, database)
    rows = await audit_rows(database)
    await forge_row(database, 8, rows[-1]["hash"])
    body = await gql(client, AUDIT_CHAIN, token=auditor.access_token)
    assert_top_level(body, "UNAVAILABLE", 503)
    assert "data" not in body  # nothing was delivered, as for any refused request
    async with database.unit_of_work() as uow, uow.read() as session:
        status = await verify(session, database.audit_keys)
    assert (status.valid, status.first_broken_sequence, status.checked_entries) == (False, 8, 8)
    assert status.head_hash == rows[-1]["hash"]
    assert [row["sequence"] for row in await audit_rows(database)] == [1, 2, 3, 4, 5, 6, 7, 8]


async def test_auditing_keeps_reporting_the_first_break_as_rows_are_appended(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    await drop_immutability_triggers(database)
    await execute_raw(database, "UPDATE audit_logs SET user_agent = 'x' WHERE sequence = 2")
    await signed_in(client, "bob")  # appends after the damage
    for _ in range(2):
        status = await audit_chain(client, auditor.access_token)
        assert (status["valid"], status["firstBrokenSequence"]) == (False, 2)


async def test_the_chain_check_needs_audit_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    body = await gql(client, AUDIT_CHAIN, token=alice.access_token)
    error = assert_top_level(body, "FORBIDDEN", 403)
    assert error["message"] == "Requires the `audit:read` permission."
    assert body["data"] is None
    [denied] = await rows_after(database, before)
    assert (denied["action"], denied["status"], denied["user_id"]) == (
        "ACCESS_DENIED", "FAILURE", alice.user_id
    )  # fmt: skip
    assert denied["error_message"] == "Requires the `audit:read` permission."
    assert (denied["description"], denied["extra"]) == ("Chain", {"path": ["auditChain"]})


# --- auditLogs -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "support"])
async def test_audit_logs_are_forbidden_without_audit_read_and_the_denial_is_recorded(
    client: httpx.AsyncClient, database: Database, role: str
) -> None:
    caller = await signed_in_with_role(client, database, "caller", role)
    before = await last_sequence(database)
    body = await gql(client, AUDIT_LOGS, {"first": 5}, token=caller.access_token)
    error = assert_top_level(body, "FORBIDDEN", 403)
    assert error["message"] == "Requires the `audit:read` permission."
    assert body["data"] is None
    [denied] = await rows_after(database, before)
    assert (denied["action"], denied["status"], denied["user_id"]) == (
        "ACCESS_DENIED", "FAILURE", caller.user_id
    )  # fmt: skip
    assert denied["error_message"] == "Requires the `audit:read` permission."
    assert (denied["description"], denied["extra"]) == ("Audit", {"path": ["auditLogs"]})
    assert denied["request_id"] == request_id(body)


async def test_a_forbidden_mutation_is_recorded_as_access_denied(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    before = await last_sequence(database)
    body = await gql(
        client,
        "mutation Promote($i: RoleGrantInput!) { assignRole(input: $i) { errors { code } } }",
        {"i": {"userId": alice.global_id, "role": "admin"}},
        token=alice.access_token,
    )
    assert_top_level(body, "FORBIDDEN", 403)
    rows = await rows_after(database, before)
    assert [(row["action"], row["user_id"], row["description"]) for row in rows] == [
        ("ACCESS_DENIED", alice.user_id, "Promote")
    ]
    assert rows[0]["error_message"] == "Requires the `roles:write` permission."


async def test_the_auditor_reads_every_row_newest_first_with_the_total_count(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    rows = await audit_rows(database)
    connection = await audit_logs(client, auditor.access_token)
    assert connection["totalCount"] == 7
    assert sequences(connection) == [7, 6, 5, 4, 3, 2, 1]
    newest = connection["edges"][0]["node"]
    last = rows[-1]
    assert newest == {
        "id": global_id("AuditLog", last["id"]), "sequence": 7, "action": "LOGIN",
        "entityType": "User", "entityId": str(last["user_id"]), "oldValues": None,
        "newValues": None, "description": None, "ipAddress": "127.0.0.1",
        "userAgent": last["user_agent"], "status": "SUCCESS", "errorMessage": None,
        "requestId": last["request_id"], "createdAt": last["created_at"].isoformat(),
        "metadata": last["extra"], "hash": last["hash"],
        "user": {"id": global_id("User", last["user_id"]), "username": "alice"},
    }  # fmt: skip
    granted = connection["edges"][3]["node"]  # the auditor role, granted by the system
    assert (granted["action"], granted["entityType"], granted["user"]) == (
        "PERMISSION_CHANGE", "UserRole", None
    )  # fmt: skip
    info = connection["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, False)
    # reading the log was itself recorded
    [read] = await rows_after(database, 7)
    assert (read["action"], read["user_id"], read["entity_type"], read["extra"]) == (
        "READ", auditor.user_id, "AuditLog", {"rows": 7}
    )  # fmt: skip


async def test_audit_logs_filter_by_action(client: httpx.AsyncClient, database: Database) -> None:
    auditor = await trail_of_seven(client, database)
    await login(client, "alice", WRONG_PASSWORD)  # 8
    connection = await audit_logs(client, auditor.access_token, action="LOGIN")
    assert (connection["totalCount"], sequences(connection)) == (2, [7, 3])
    failed = await audit_logs(client, auditor.access_token, action="LOGIN_FAILED")
    assert (failed["totalCount"], sequences(failed)) == (1, [8])


async def test_audit_logs_filter_by_acting_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    alice_id = (await audit_rows(database, sequence=5))[0]["user_id"]
    connection = await audit_logs(client, auditor.access_token, userId=global_id("User", alice_id))
    assert (connection["totalCount"], sequences(connection)) == (3, [7, 6, 5])
    assert {edge["node"]["user"]["username"] for edge in connection["edges"]} == {"alice"}
    mine = await audit_logs(client, auditor.access_token, userId=auditor.global_id)
    assert (mine["totalCount"], sequences(mine)) == (4, [8, 3, 2, 1])  # 8: the first READ


async def test_audit_logs_filter_by_entity(client: httpx.AsyncClient, database: Database) -> None:
    auditor = await trail_of_seven(client, database)
    alice_id = str((await audit_rows(database, sequence=5))[0]["user_id"])
    connection = await audit_logs(
        client, auditor.access_token, entityType="User", entityId=alice_id
    )
    assert (connection["totalCount"], sequences(connection)) == (2, [7, 5])
    grants = await audit_logs(client, auditor.access_token, entityType="UserRole")
    assert (grants["totalCount"], sequences(grants)) == (3, [6, 4, 2])
    none = await audit_logs(client, auditor.access_token, entityType="User", entityId="nobody")
    assert (none["totalCount"], none["edges"]) == (0, [])


async def test_audit_logs_filter_by_status(client: httpx.AsyncClient, database: Database) -> None:
    auditor = await trail_of_seven(client, database)
    await login(client, "alice", WRONG_PASSWORD)  # 8
    await login(client, "nobody", WRONG_PASSWORD)  # 9
    failures = await audit_logs(client, auditor.access_token, status="FAILURE")
    assert (failures["totalCount"], sequences(failures)) == (2, [9, 8])
    assert {edge["node"]["status"] for edge in failures["edges"]} == {"FAILURE"}
    successes = await audit_logs(client, auditor.access_token, status="SUCCESS")
    assert successes["totalCount"] == 8  # 1..7 and the READ of the first query
    assert sequences(successes) == [10, 7, 6, 5, 4, 3, 2, 1]


async def test_audit_logs_filter_by_date_range(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    rows = await audit_rows(database)
    start, end = rows[2]["created_at"], rows[6]["created_at"]  # sequences 3 and 7
    assert start < rows[3]["created_at"]
    assert rows[5]["created_at"] < end
    between = await audit_logs(
        client, auditor.access_token, **{"from": start.isoformat(), "to": end.isoformat()}
    )  # from is inclusive, to exclusive
    assert (between["totalCount"], sequences(between)) == (4, [6, 5, 4, 3])
    since = await audit_logs(client, auditor.access_token, **{"from": end.isoformat()})
    assert sequences(since) == [8, 7]  # 8: the READ of the previous query
    until = await audit_logs(client, auditor.access_token, to=start.isoformat())
    assert sequences(until) == [2, 1]
    # the same instants written with another offset select the same rows
    plus_two = timezone(timedelta(hours=2))
    since_local, until_local = start.astimezone(plus_two), end.astimezone(plus_two)
    assert since_local.isoformat().endswith("+02:00")
    window = {"from": since_local.isoformat(), "to": until_local.isoformat()}
    shifted = await audit_logs(client, auditor.access_token, **window)
    assert sequences(shifted) == [6, 5, 4, 3]


async def test_audit_logs_filters_combine_with_and(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    alice_id = (await audit_rows(database, sequence=5))[0]["user_id"]
    combined = await audit_logs(
        client, auditor.access_token, userId=global_id("User", alice_id),
        action="PERMISSION_CHANGE", status="SUCCESS", entityType="UserRole",
    )  # fmt: skip
    assert (combined["totalCount"], sequences(combined)) == (1, [6])
    empty = await audit_logs(
        client, auditor.access_token, userId=global_id("User", alice_id), status="FAILURE"
    )
    assert (empty["totalCount"], empty["edges"]) == (0, [])


async def test_audit_logs_paginate_newest_first_and_stay_stable_under_inserts(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    await signed_in(client, "bob")  # 8, 9, 10
    first_page = await audit_logs(client, auditor.access_token, first=4)  # READ row 11 follows
    assert sequences(first_page) == [10, 9, 8, 7]
    assert first_page["totalCount"] == 10
    info = first_page["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    assert info["startCursor"] == first_page["edges"][0]["cursor"]
    assert info["endCursor"] == first_page["edges"][-1]["cursor"]
    await signed_in(client, "carol")  # more rows arrive between the pages
    second = await audit_logs(client, auditor.access_token, first=4, after=info["endCursor"])
    assert sequences(second) == [6, 5, 4, 3]
    assert second["totalCount"] == 14  # 10, the first page's READ, carol's three
    assert (second["pageInfo"]["hasNextPage"], second["pageInfo"]["hasPreviousPage"]) == (
        True, True
    )  # fmt: skip
    third = await audit_logs(
        client, auditor.access_token, first=4, after=second["pageInfo"]["endCursor"]
    )
    assert sequences(third) == [2, 1]
    assert third["pageInfo"]["hasNextPage"] is False
    again = await audit_logs(client, auditor.access_token, first=4, after=info["endCursor"])
    assert sequences(again) == [6, 5, 4, 3]  # the same cursor gives the same page


async def test_the_default_page_holds_twenty_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    for name in ("bob", "carol", "dave", "erin", "frank"):
        await signed_in(client, name)  # 8..22
    connection = await audit_logs(client, auditor.access_token)
    assert connection["totalCount"] == 22
    assert sequences(connection) == list(range(22, 2, -1))
    assert connection["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ("not-a-cursor!", "`after` is not a valid cursor"),
        (encode_cursor(">i:5", "username:asc"), "`after` was made for another ordering"),
        ("", "`after` is not a valid cursor"),
    ],
)
async def test_a_malformed_cursor_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, after: str, message: str
) -> None:
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    body = await gql(client, AUDIT_LOGS, {"first": 2, "after": after}, token=auditor.access_token)
    error = assert_top_level(body, "BAD_REQUEST", 400)
    assert error["message"] == message
    assert body["data"] is None


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_outside_one_to_a_hundred_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, first: int
) -> None:
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    body = await gql(client, AUDIT_LOGS, {"first": first}, token=auditor.access_token)
    error = assert_top_level(body, "BAD_REQUEST", 400)
    assert error["message"] == "`first` must be between 1 and 100"


async def test_a_user_id_filter_that_is_not_a_user_id_is_a_bad_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    for value in (global_id("AuditLog", uuid.uuid4()), "garbage"):
        body = await gql(
            client, AUDIT_LOGS, {"filter": {"userId": value}}, token=auditor.access_token
        )
        assert_top_level(body, "BAD_REQUEST", 400)


async def test_audit_logs_need_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    body = await gql(client, AUDIT_LOGS, {"first": 2})
    assert_top_level(body, "UNAUTHENTICATED", 401)


# --- me.auditLogs, User.auditLogs, node ------------------------------------------------------


async def test_me_audit_logs_hold_only_the_callers_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    await trail_of_seven(client, database)
    bob = await signed_in(client, "bob")  # 8, 9, 10
    await login(client, "alice", WRONG_PASSWORD)  # 11, by alice
    body = await gql(client, ME_AUDIT, {"first": 10}, token=bob.access_token)
    trail = body["data"]["me"]["auditLogs"]
    assert trail["totalCount"] == 3
    assert [(edge["node"]["sequence"], edge["node"]["action"]) for edge in trail["edges"]] == [
        (10, "LOGIN"), (9, "PERMISSION_CHANGE"), (8, "CREATE"),
    ]  # fmt: skip
    assert {edge["node"]["user"]["username"] for edge in trail["edges"]} == {"bob"}
    # reading your own trail is not a sensitive read
    assert await rows_after(database, 11) == []


async def test_me_audit_logs_apply_the_filters(
    client: httpx.AsyncClient, database: Database
) -> None:
    auditor = await trail_of_seven(client, database)
    alice_id = (await audit_rows(database, sequence=5))[0]["user_id"]
    logins = await gql(
        client, ME_AUDIT, {"filter": {"action": "LOGIN"}}, token=auditor.access_token
    )
    assert [edge["node"]["sequence"] for edge in logins["data"]["me"]["auditLogs"]["edges"]] == [3]
    others = await gql(
        client, ME_AUDIT, {"filter": {"userId": global_id("User", alice_id)}},
        token=auditor.access_token,
    )  # fmt: skip
    assert others["data"]["me"]["auditLogs"] == {"totalCount": 0, "edges": []}


async def test_another_users_audit_logs_are_empty_without_audit_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    helper = await signed_in_with_role(client, database, "helper", "support")  # users:read
    before = await last_sequence(database)
    body = await gql(client, USER_AUDIT, {"id": alice.global_id}, token=helper.access_token)
    assert body["data"]["user"]["auditLogs"] == {"totalCount": 0, "edges": []}
    # the profile read and the (empty) attempt at the trail are both recorded
    reads = await rows_after(database, before)
    assert [(row["action"], row["entity_type"], row["user_id"]) for row in reads] == [
        ("READ", "User", helper.user_id), ("READ", "AuditLog", helper.user_id),
    ]  # fmt: skip
    assert reads[0]["entity_id"] == str(alice.user_id)
    assert reads[1]["extra"] == {"user_id": str(alice.user_id), "rows": 0}


async def test_another_users_audit_logs_are_complete_for_the_auditor(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    body = await gql(client, USER_AUDIT, {"id": alice.global_id}, token=auditor.access_token)
    trail = body["data"]["user"]["auditLogs"]
    assert trail["totalCount"] == 3
    assert [(edge["node"]["sequence"], edge["node"]["action"]) for edge in trail["edges"]] == [
        (3, "LOGIN"), (2, "PERMISSION_CHANGE"), (1, "CREATE"),
    ]  # fmt: skip


async def test_node_finds_your_own_audit_rows_but_not_other_peoples(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    bob = await signed_in(client, "bob")
    alice_login = (await audit_rows(database, action="LOGIN", user_id=alice.user_id))[0]
    node_id = global_id("AuditLog", alice_login["id"])
    mine = await gql(client, NODE, {"id": node_id}, token=alice.access_token)
    assert mine["data"]["node"] == {"__typename": "AuditLog", "sequence": 3, "action": "LOGIN"}
    theirs = await gql(client, NODE, {"id": node_id}, token=bob.access_token)
    assert theirs["data"]["node"] is None


# --- AUDIT_READS -----------------------------------------------------------------------------


async def test_sensitive_reads_record_another_users_profile_but_not_your_own(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await signed_in(client, "alice")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    before = await last_sequence(database)
    assert "errors" not in await gql(client, ME, token=admin.access_token)
    own = await gql(client, USER_BY_ID, {"id": admin.global_id}, token=admin.access_token)
    assert own["data"]["user"] == {"username": "boss"}
    assert await rows_after(database, before) == []
    body = await gql(client, USER_BY_ID, {"id": alice.global_id}, token=admin.access_token)
    assert body["data"]["user"] == {"username": "alice"}
    [read] = await rows_after(database, before)
    assert (read["action"], read["status"], read["user_id"]) == ("READ", "SUCCESS", admin.user_id)
    assert (read["entity_type"], read["entity_id"]) == ("User", str(alice.user_id))
    assert read["request_id"] == request_id(body)


async def test_sensitive_reads_record_the_users_list(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "alice")
    admin = await signed_in_with_role(client, database, "boss", "admin")
    before = await last_sequence(database)
    body = await gql(client, "query List { users { totalCount } }", token=admin.access_token)
    assert body["data"]["users"]["totalCount"] == 2
    [read] = await rows_after(database, before)
    assert (read["action"], read["user_id"], read["entity_type"], read["entity_id"]) == (
        "READ", admin.user_id, "User", None
    )  # fmt: skip
    assert read["extra"] == {"rows": 2}


async def test_all_reads_record_every_query_of_a_signed_in_caller(
    database_url: str, tmp_path: Path, database: Database
) -> None:
    async with client_with(database_url, tmp_path, audit_reads="all") as client:
        alice = await signed_in(client, "alice")
        before = await last_sequence(database)
        body = await gql(client, ME, token=alice.access_token)
        assert body["data"]["me"] == {"username": "alice"}
        [read] = await rows_after(database, before)
        assert (read["action"], read["status"], read["user_id"]) == (
            "READ", "SUCCESS", alice.user_id
        )  # fmt: skip
        assert (read["description"], read["extra"]) == ("Me", {"fields": ["me"]})
        assert read["request_id"] == request_id(body)
        # anonymous queries and mutations are not reads of anyone's data
        mark = await last_sequence(database)
        await gql(client, "query Anonymous { __typename }")
        await gql(client, UPDATE_PROFILE, {"input": {"fullName": "A"}}, token=alice.access_token)
        assert actions(await rows_after(database, mark)) == ["UPDATE"]


async def test_no_reads_are_recorded_with_audit_reads_none(
    database_url: str, tmp_path: Path, database: Database
) -> None:
    async with client_with(database_url, tmp_path, audit_reads="none") as client:
        alice = await signed_in(client, "alice")
        admin = await signed_in_with_role(client, database, "boss", "admin")
        before = await last_sequence(database)
        for query, variables in [
            (ME, None), (USER_BY_ID, {"id": alice.global_id}),
            ("query List { users { totalCount } }", None), (AUDIT_LOGS, {"first": 1}),
            (AUDIT_CHAIN, None),
        ]:  # fmt: skip
            body = await gql(client, query, variables, token=admin.access_token)
            assert "errors" not in body, body
        assert await rows_after(database, before) == []


@pytest.mark.parametrize("audit_reads", ["none", "sensitive", "all"])
async def test_denials_are_recorded_whatever_audit_reads_says(
    database_url: str, tmp_path: Path, database: Database, audit_reads: str
) -> None:
    async with client_with(database_url, tmp_path, audit_reads=audit_reads) as client:
        alice = await signed_in(client, "alice")
        before = await last_sequence(database)
        body = await gql(client, AUDIT_CHAIN, token=alice.access_token)
        assert_top_level(body, "FORBIDDEN", 403)
        denials = await rows_after(database, before, action="ACCESS_DENIED")
        assert [(row["user_id"], row["request_id"]) for row in denials] == [
            (alice.user_id, request_id(body))
        ]


# --- statements ------------------------------------------------------------------------------


async def test_audit_logs_with_their_users_take_a_constant_number_of_statements(
    client: httpx.AsyncClient, database: Database, app: Starlette
) -> None:
    engine = app.state.database.engine
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    for index in range(6):
        await signed_in(client, f"member{index}")
    query = """
    query($first: Int) { auditLogs(first: $first) { edges { node { id user { username } } } } }
    """

    async def statements(first: int) -> tuple[int, set[str]]:
        with count_statements(engine) as counter:
            body = await gql(client, query, {"first": first}, token=auditor.access_token)
        assert "errors" not in body, body
        edges = body["data"]["auditLogs"]["edges"]
        assert len(edges) == first
        users = {edge["node"]["user"]["username"] for edge in edges if edge["node"]["user"]}
        return counter.count, users

    few, few_users = await statements(2)
    many, many_users = await statements(20)
    assert few_users == {"member5"}
    assert many_users == {"inspector", "member0", "member1", "member2", "member3", "member4",
                          "member5"}  # fmt: skip
    assert few == many
