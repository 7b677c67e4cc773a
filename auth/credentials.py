"""Sign-up and password changes: checked and hashed outside the transaction, written inside it.

Password hashing is slow, so each flow comes in two steps: a preparing step (`prepare_*`)
reads on the operation's snapshot, gives the connection back and hashes, holding no
connection; a writing step (`finish_*`) then runs in the mutation's write transaction, flushes
and never commits. Errors name fields in the domain's words (`new_password`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from auth.passwords import PasswordHasher
from auth.principal import Principal
from db.audit.entries import record, user_event
from db.base import ACTOR_KEY, utcnow
from db.errors import (
    AppError,
    CommitThenFail,
    Conflict,
    InputErrors,
    Unauthenticated,
    ValidationFailed,
)
from db.models import AuditAction, AuditStatus, User, UserRole
from db.repositories import identity as identity_repo
from db.services.identity import refuse_taken, validate_profile
from db.unit_of_work import Transaction, UnitOfWork

DEFAULT_ROLE = "user"


@dataclass(frozen=True, slots=True)
class NewUser:
    """A checked sign-up with its password hashed, ready to be written."""

    username: str
    email: str
    full_name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """A checked password change: the new hash, or None when the current password was wrong."""

    new_hash: str | None


class Credentials:
    """Sign-up and password changes, each a preparing and a writing step."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    async def prepare_registration(
        self, uow: UnitOfWork, *, username: str, email: str, password: str, full_name: str
    ) -> NewUser:
        """Check a sign-up and hash its password; WEAK_PASSWORD or VALIDATION_FAILED."""
        username, email = username.strip(), identity_repo.normalise_email(email)
        problems = validate_profile(username=username, email=email, full_name=full_name)
        problems += await self.hasher.problems(
            password, username=username, email=email, full_name=full_name
        )
        if problems:
            raise InputErrors(problems)
        await uow.close()  # no connection is held while hashing
        password_hash = await self.hasher.hash(password)
        return NewUser(username, email, full_name.strip(), password_hash)

    async def finish_registration(self, transaction: Transaction, new_user: NewUser) -> User:
        """Create the checked user with the `user` role; CONFLICT if a name is taken."""
        await refuse_taken(
            transaction, username=new_user.username, email=new_user.email, exclude=None
        )
        user = User(
            id=uuid.uuid4(), username=new_user.username, email=new_user.email,
            password_hash=new_user.password_hash, full_name=new_user.full_name,
            password_changed_at=utcnow(),
        )  # fmt: skip
        transaction.info[ACTOR_KEY] = user.id  # a new user signs themselves up
        transaction.add(user)
        try:
            await transaction.flush()
        except IntegrityError:  # a concurrent registration won the race for the name
            raise Conflict("The username or email is already taken.") from None
        role = await identity_repo.role_by_name(transaction, DEFAULT_ROLE)
        if role is not None:
            transaction.add(UserRole(user_id=user.id, role_id=role.id))
            await transaction.flush()
        await transaction.refresh(user)
        return user

    async def prepare_password_change(
        self, uow: UnitOfWork, principal: Principal, current: str, new: str
    ) -> PasswordChange:
        """Check the current password and the new one, then hash the new one.

        A wrong current password is not raised here: `finish_password_change` records it.
        WEAK_PASSWORD and VALIDATION_FAILED for the new one are raised at once.
        """
        async with uow.read() as session:
            user = await identity_repo.get_user(session, principal.user_id)
            if user is None:
                raise Unauthenticated
            username, email, old_hash = user.username, user.email, user.password_hash
            full_name = user.full_name
        await uow.close()  # no connection is held while hashing
        if not await self.hasher.verify(current, old_hash):
            return PasswordChange(new_hash=None)
        found = await self.hasher.problems(new, username=username, email=email, full_name=full_name)
        problems: list[AppError] = [_retarget(problem) for problem in found]
        if new == current:
            problems.append(ValidationFailed("The new password must differ.", field="new_password"))
        if problems:
            raise InputErrors(problems)
        return PasswordChange(new_hash=await self.hasher.hash(new))

    async def finish_password_change(
        self, transaction: Transaction, principal: Principal, change: PasswordChange
    ) -> User:
        """Store the new password and end every other session of the user.

        A wrong current password is recorded, then VALIDATION_FAILED raised (`CommitThenFail`).
        """
        if change.new_hash is None:
            record(
                transaction,
                user_event(
                    AuditAction.PASSWORD_CHANGE, principal.user_id,
                    status=AuditStatus.FAILURE, error_message="wrong current password",
                ),
            )  # fmt: skip
            wrong = ValidationFailed("The current password is wrong.", field="current_password")
            raise CommitThenFail(wrong)
        user = await identity_repo.get_user(transaction, principal.user_id, for_update=True)
        if user is None:
            raise Unauthenticated
        now = utcnow()
        user.password_hash, user.password_changed_at = change.new_hash, now
        revoked = await identity_repo.revoke_sessions(
            transaction, user_id=user.id, now=now, reason="password_changed",
            keep=principal.session_id,
        )  # fmt: skip
        record(
            transaction,
            user_event(AuditAction.PASSWORD_CHANGE, user.id, revoked_sessions=revoked),
        )
        await transaction.flush()
        return user


def _retarget(problem: ValidationFailed) -> ValidationFailed:
    problem.field = "new_password"
    return problem
