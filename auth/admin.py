"""`ledgerql create-admin`: create or promote an administrator, idempotently."""

from __future__ import annotations

import getpass
import os
import sys
from enum import Enum

from auth.service import AuthService
from core.settings import Settings
from db.base import ACTOR_KEY
from db.errors import InputErrors
from db.models import ADMIN_ROLE
from db.repositories import identity as identity_repo
from db.services import identity as identity_service
from db.session import Database

PASSWORD_VARIABLE = "LEDGERQL_ADMIN_PASSWORD"  # noqa: S105 - a variable name, not a value


class AdminOutcome(Enum):
    """What `create-admin` did."""

    CREATED = "created"
    PROMOTED = "promoted"
    UNCHANGED = "already an admin"


class AdminSetupError(Exception):
    """Why no admin could be created; the message is meant for the operator."""


def read_password(*, interactive: bool) -> str:
    """The new admin's password: from LEDGERQL_ADMIN_PASSWORD, else a confirmed prompt."""
    from_environment = os.environ.get(PASSWORD_VARIABLE)
    if from_environment:
        return from_environment
    if not interactive:
        msg = f"set {PASSWORD_VARIABLE} or run in a terminal to be prompted for the password"
        raise AdminSetupError(msg)
    first = getpass.getpass("Password for the new admin: ")
    if first != getpass.getpass("Repeat the password: "):
        msg = "the passwords do not match"
        raise AdminSetupError(msg)
    return first


async def create_admin(
    settings: Settings, auth: AuthService, *, username: str, email: str | None, full_name: str
) -> AdminOutcome:
    """Promote an existing user to admin, or register a new one as admin."""
    database = Database(settings)
    try:
        async with database.unit_of_work() as uow:
            existing = await uow.query(identity_repo.find_by_login, username)
            if existing is not None:
                if existing.is_admin:
                    return AdminOutcome.UNCHANGED
                async with uow.write() as transaction:
                    await identity_service.assign_role(transaction, existing.id, ADMIN_ROLE)
                return AdminOutcome.PROMOTED
            if not email:
                msg = f"no user {username!r} exists; give --email to create one"
                raise AdminSetupError(msg)
            password = read_password(interactive=sys.stdin.isatty())
            try:
                new_user = await auth.credentials.prepare_registration(
                    uow, username=username, email=email, password=password, full_name=full_name
                )
                async with uow.write() as transaction:
                    user = await auth.credentials.finish_registration(transaction, new_user)
                    transaction.info[ACTOR_KEY] = uow.actor_id  # the operator grants the role
                    await identity_service.assign_role(transaction, user.id, ADMIN_ROLE)
            except InputErrors as failure:
                raise AdminSetupError("; ".join(e.message for e in failure.errors)) from None
            return AdminOutcome.CREATED
    finally:
        await database.dispose()
