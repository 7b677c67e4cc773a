"""Permission names: one enum in auth, the same set the migrations seed, semantic for the db."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from auth.permissions import Permission
from auth.principal import Principal
from db.models import Permission as PermissionRow
from db.session import Database
from graph.context import ANONYMOUS

QUESTIONS = {
    "sees_all_users": Permission.USERS_READ,
    "sees_all_sessions": Permission.SESSIONS_READ,
    "sees_all_holders": Permission.HOLDERS_READ,
    "sees_all_accounts": Permission.ACCOUNTS_READ,
    "sees_all_audit": Permission.AUDIT_READ,
}


def principal_holding(*permissions: str) -> Principal:
    return Principal(
        user_id=uuid.uuid4(), session_id=uuid.uuid4(), username="pat",
        permissions=frozenset(permissions), is_admin=False,
    )  # fmt: skip


async def test_the_enum_names_exactly_the_permissions_the_migrations_seed(
    database: Database,
) -> None:
    async with database.engine.connect() as connection:
        seeded = set((await connection.execute(select(PermissionRow.name))).scalars())
    assert seeded == {str(permission) for permission in Permission}
    assert len(seeded) == 8


@pytest.mark.parametrize(("question", "permission"), QUESTIONS.items())
def test_each_visibility_question_is_answered_by_its_permission_alone(
    question: str, permission: Permission
) -> None:
    assert getattr(principal_holding(permission.value), question)() is True
    others = [str(other) for other in Permission if other is not permission]
    assert getattr(principal_holding(*others), question)() is False
    assert getattr(ANONYMOUS, question)() is False


def test_a_permission_matches_the_name_read_from_the_database() -> None:
    assert principal_holding("roles:write").can(Permission.ROLES_WRITE)
    assert not principal_holding("roles:read").can(Permission.ROLES_WRITE)
