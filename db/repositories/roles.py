"""Roles and the permissions they grant."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Permission, Role, RolePermission, UserRole


async def all_roles(session: AsyncSession) -> list[Role]:
    """Every live role, by name."""
    return list((await session.execute(select(Role).order_by(Role.name))).scalars())


async def by_name(session: AsyncSession, name: str, *, for_update: bool = False) -> Role | None:
    """A live role by name; `for_update` locks its row until the transaction ends."""
    statement = select(Role).where(Role.name == name)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalars().first()


async def permissions_of_roles(
    session: AsyncSession, role_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each role's permission names, in one statement."""
    statement = (
        select(RolePermission.role_id, Permission.name)
        .join(Permission, Permission.id == RolePermission.permission_id)
        .where(RolePermission.role_id.in_(role_ids))
        .order_by(Permission.name)
    )
    grouped: dict[uuid.UUID, list[str]] = defaultdict(list)
    for role_id, name in await session.execute(statement):
        grouped[role_id].append(name)
    return grouped


async def membership(
    session: AsyncSession, user_id: uuid.UUID, role_id: uuid.UUID
) -> UserRole | None:
    """The live grant of a role to a user, if any."""
    statement = select(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == role_id)
    return (await session.execute(statement)).scalars().first()
