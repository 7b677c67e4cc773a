"""The caller read that authenticates every request: a Core statement, so it spells out
the soft-delete rules the ORM applies elsewhere. Each soft-deleted link must stop granting."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from db.base import utcnow
from db.models import AuthSession, Permission, Role, RolePermission, User, UserRole
from db.records.identity import SessionRecord, UserRecord
from db.repositories import identity as identity_repo
from db.session import Database


async def _grant(database: Database) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A user with a session, holding `ledger:audit` through one role; returns every row id."""
    now = utcnow()
    ids = {name: uuid.uuid4() for name in ("user", "session", "role", "permission", "rp", "ur")}
    async with database.unit_of_work() as uow, uow.write() as session:
        session.add(User(id=ids["user"], username="cora", email="cora@example.com",
                         password_hash="x"))  # fmt: skip
        session.add_all([
            Role(id=ids["role"], name="auditors"),
            Permission(id=ids["permission"], name="ledger:audit"),
        ])  # fmt: skip
        await session.flush()
        session.add_all([
            AuthSession(id=ids["session"], user_id=ids["user"], refresh_jti="j",
                        last_used_at=now, expires_at=now + timedelta(hours=1)),
            RolePermission(id=ids["rp"], role_id=ids["role"], permission_id=ids["permission"]),
            UserRole(id=ids["ur"], user_id=ids["user"], role_id=ids["role"]),
        ])  # fmt: skip
    return ids["session"], ids


async def _permissions(database: Database, session_id: uuid.UUID) -> frozenset[str] | None:
    async with database.unit_of_work() as uow, uow.connection() as connection:
        found = await identity_repo.caller(connection, session_id)
    return None if found is None else found[2]


async def _set_deleted(
    database: Database, model: type, row_id: uuid.UUID, deleted_at: datetime | None
) -> None:
    async with database.engine.begin() as connection:
        table = model.__table__  # type: ignore[attr-defined]
        statement = update(table).where(table.c.id == row_id).values(deleted_at=deleted_at)
        await connection.execute(statement)


async def test_the_caller_holds_a_permission_only_while_every_link_is_live(
    database: Database,
) -> None:
    session_id, ids = await _grant(database)
    assert await _permissions(database, session_id) == frozenset({"ledger:audit"})
    links = [(RolePermission, "rp"), (UserRole, "ur"), (Role, "role"), (Permission, "permission")]
    for model, key in links:
        await _set_deleted(database, model, ids[key], utcnow())
        assert await _permissions(database, session_id) == frozenset(), model
        await _set_deleted(database, model, ids[key], None)
    for model, key in [(AuthSession, "session"), (User, "user")]:
        await _set_deleted(database, model, ids[key], utcnow())
        assert await _permissions(database, session_id) is None, model
        await _set_deleted(database, model, ids[key], None)


async def test_the_caller_read_returns_immutable_records_without_secrets(
    database: Database,
) -> None:
    session_id, ids = await _grant(database)
    async with database.unit_of_work() as uow, uow.connection() as connection:
        found = await identity_repo.caller(connection, session_id)
    assert found is not None
    auth_session, user, _ = found
    assert (auth_session.id, auth_session.user_id, auth_session.revoked_at) == (
        session_id, ids["user"], None,
    )  # fmt: skip
    assert (user.id, user.username, user.email, user.is_admin) == (
        ids["user"], "cora", "cora@example.com", False,
    )  # fmt: skip
    assert auth_session.expires_at > utcnow()
    assert isinstance(auth_session, SessionRecord)
    assert isinstance(user, UserRecord)
    assert not hasattr(user, "password_hash")
    assert not hasattr(auth_session, "refresh_jti")
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.is_active = False  # type: ignore[misc]
