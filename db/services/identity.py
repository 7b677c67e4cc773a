"""User management: profile changes, activation, soft deletion and role grants.

Services run inside the caller's write transaction (`Transaction`): they flush, never commit.
Errors name fields in the domain's words (`user_id`, `full_name`); the GraphQL layer maps them
to paths.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.errors import AppError, Conflict, InputErrors, NotFound, ValidationFailed
from db.models import ADMIN_ROLE, Role, User, UserRole
from db.repositories import identity as identity_repo
from db.unit_of_work import Transaction

USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,50}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def validate_profile(
    *, username: str | None, email: str | None, full_name: str | None
) -> list[AppError]:
    """Format problems with the given profile fields (None means "not being set")."""
    problems: list[AppError] = []
    if username is not None and not USERNAME.fullmatch(username):
        problems.append(
            ValidationFailed(
                "Username must be 3-50 letters, digits, dots, dashes or underscores.",
                field="username",
            )
        )
    if email is not None and (len(email) > 254 or not EMAIL.fullmatch(email)):
        problems.append(ValidationFailed("Email is not valid.", field="email"))
    if full_name is not None and len(full_name.strip()) > 200:
        problems.append(
            ValidationFailed("Full name must be at most 200 characters.", field="full_name")
        )
    return problems


async def refuse_taken(
    session: Transaction, *, username: str | None, email: str | None, exclude: uuid.UUID | None
) -> None:
    """CONFLICT for each of username and email that another live user already has."""
    clashes = await identity_repo.taken_names(
        session, username=username, email=email, exclude=exclude
    )
    if clashes:
        raise InputErrors(
            [Conflict(f"That {name} is already taken.", field=name) for name in sorted(clashes)]
        )


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Optional new values for a user's own profile."""

    full_name: str | None = None
    email: str | None = None
    username: str | None = None


async def _target(session: Transaction, user_id: uuid.UUID) -> User:
    user = await identity_repo.get_user(session, user_id, for_update=True)
    if user is None:
        raise NotFound("No such user.", field="user_id")
    return user


async def _refuse_last_admin(session: Transaction, user: User) -> None:
    if not user.is_admin:
        return
    # The admin role's row is the lock that serializes "is anyone else still admin?" checks
    # (PostgreSQL; SQLite's BEGIN IMMEDIATE serializes every writer anyway).
    await identity_repo.role_by_name(session, ADMIN_ROLE, for_update=True)
    if (await identity_repo.active_admin_ids(session)) <= {user.id}:
        raise Conflict("The last active admin cannot be removed.", field="user_id")


async def update_profile(session: Transaction, user_id: uuid.UUID, changes: ProfileChanges) -> User:
    """Change the caller's own name, email or username (re-checking uniqueness)."""
    email = identity_repo.normalise_email(changes.email) if changes.email is not None else None
    username = changes.username.strip() if changes.username is not None else None
    problems = validate_profile(username=username, email=email, full_name=changes.full_name)
    if problems:
        raise InputErrors(problems)
    user = await _target(session, user_id)
    await refuse_taken(session, username=username, email=email, exclude=user.id)
    if changes.full_name is not None:
        user.full_name = changes.full_name.strip()
    if email is not None:
        user.email = email
    if username is not None:
        user.username = username
    try:
        await session.flush()
    except IntegrityError:  # a concurrent change won the race for the name
        raise Conflict("The username or email is already taken.") from None
    return user


async def set_active(session: Transaction, user_id: uuid.UUID, *, active: bool) -> User:
    """Activate or deactivate a user; deactivation ends their sessions at once."""
    user = await _target(session, user_id)
    if not active:
        await _refuse_last_admin(session, user)
        await identity_repo.revoke_sessions(
            session, user_id=user.id, now=utcnow(), reason="deactivated"
        )
    user.is_active = active
    await session.flush()
    return user


async def delete(session: Transaction, user_id: uuid.UUID) -> User:
    """Soft-delete a user and end their sessions."""
    user = await _target(session, user_id)
    await _refuse_last_admin(session, user)
    now = utcnow()
    await identity_repo.revoke_sessions(session, user_id=user.id, now=now, reason="deleted")
    user.soft_delete(now)
    await session.flush()
    return user


async def _target_and_role(
    session: Transaction, user_id: uuid.UUID, role_name: str
) -> tuple[User, Role]:
    user = await _target(session, user_id)
    role = await identity_repo.role_by_name(session, role_name)
    if role is None:
        raise NotFound("No such role.", field="role")
    return user, role


async def assign_role(session: Transaction, user_id: uuid.UUID, role_name: str) -> User:
    """Grant a role (idempotent)."""
    user, role = await _target_and_role(session, user_id, role_name)
    if await identity_repo.role_membership(session, user.id, role.id) is None:
        session.add(UserRole(user_id=user.id, role_id=role.id))
        await session.flush()
    await session.refresh(user)
    return user


async def revoke_role(session: Transaction, user_id: uuid.UUID, role_name: str) -> User:
    """Withdraw a role (idempotent); the last active admin keeps theirs."""
    user, role = await _target_and_role(session, user_id, role_name)
    grant = await identity_repo.role_membership(session, user.id, role.id)
    if grant is not None:
        if role.name == ADMIN_ROLE:
            await _refuse_last_admin(session, user)
        grant.soft_delete()
        await session.flush()
    await session.refresh(user)
    return user
