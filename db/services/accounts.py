"""Holder profiles and accounts: opening, freezing, unfreezing and closing."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.errors import AppError, Conflict, InputErrors, NotFound, ValidationFailed
from db.models import Account, AccountHolder, AccountStatus, AccountType
from db.money import check_currency
from db.repositories import accounts as account_repo
from db.services.transitions import check_transition
from db.session import UnitOfWork

MAX_AGE_YEARS = 130


def _holder_problems(first_name: str, last_name: str, date_of_birth: date) -> list[AppError]:
    problems: list[AppError] = []
    for name, value in (("firstName", first_name), ("lastName", last_name)):
        if not 1 <= len(value.strip()) <= 100:
            problems.append(
                ValidationFailed("Names must be 1-100 characters.", field=["input", name])
            )
    today = utcnow().date()
    if not today.replace(year=today.year - MAX_AGE_YEARS) <= date_of_birth <= today:
        problems.append(
            ValidationFailed("Date of birth is not plausible.", field=["input", "dateOfBirth"])
        )
    return problems


async def create_holder(
    uow: UnitOfWork, user_id: uuid.UUID, first_name: str, last_name: str, date_of_birth: date
) -> AccountHolder:
    """The caller's holder profile (one per user; CONFLICT if it exists)."""
    problems = _holder_problems(first_name, last_name, date_of_birth)
    if problems:
        raise InputErrors(problems)
    try:
        async with uow.write() as session:
            if await account_repo.holder_of_user(session, user_id) is not None:
                raise Conflict("You already have an account holder profile.")
            holder = AccountHolder(
                user_id=user_id, first_name=first_name.strip(), last_name=last_name.strip(),
                date_of_birth=date_of_birth,
            )  # fmt: skip
            session.add(holder)
            await session.flush()
    except IntegrityError:  # a concurrent request created it first
        raise Conflict("You already have an account holder profile.") from None
    return holder


async def open_account(
    uow: UnitOfWork, user_id: uuid.UUID, account_type: AccountType, currency: str
) -> Account:
    """A new, empty account of the caller's holder profile."""
    check_currency(currency, ["input", "currency"])
    async with uow.write() as session:
        holder = await account_repo.holder_of_user(session, user_id)
        if holder is None:
            msg = "Create your account holder profile first (createAccountHolder)."
            raise NotFound(msg)
        account = Account(
            holder_id=holder.id, type=account_type.value, currency=currency, balance=0,
            status=AccountStatus.ACTIVE.value, entries=0,
        )  # fmt: skip
        session.add(account)
        await session.flush()
        return account


TRANSITIONS = {
    AccountStatus.FROZEN: {AccountStatus.ACTIVE},
    AccountStatus.ACTIVE: {AccountStatus.FROZEN},
    AccountStatus.CLOSED: {AccountStatus.ACTIVE, AccountStatus.FROZEN},
}
"""Target status -> the statuses it may be reached from."""


async def change_status(
    uow: UnitOfWork, user_id: uuid.UUID, account_id: uuid.UUID, target: AccountStatus
) -> Account:
    """Freeze, unfreeze or close one of the caller's accounts; closing needs a zero balance."""
    async with uow.write() as session:
        found = await account_repo.owned_accounts_for_update(session, user_id, [account_id])
        account = found.get(account_id)
        if account is None:
            raise NotFound("No such account.", field=["input", "accountId"])
        check_transition(
            TRANSITIONS, AccountStatus(account.status), target,
            noun="account", field=["input", "accountId"],
        )  # fmt: skip
        if target is AccountStatus.CLOSED and account.balance != 0:
            msg = "Only an account with a zero balance can be closed."
            raise ValidationFailed(msg, field=["input", "accountId"])
        account.status = target.value
        await session.flush()
        return account
