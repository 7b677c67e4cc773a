"""Holder profiles and accounts: opening, freezing, unfreezing and closing.

Services run inside the caller's write transaction (`Transaction`): they flush, never commit.
Errors name fields in the domain's words (`account_id`); the GraphQL layer maps them to paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date

from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.errors import AccountNotActive, AppError, Conflict, InputErrors, NotFound, ValidationFailed
from db.models import Account, AccountHolder, AccountStatus, AccountType
from db.money import check_currency
from db.repositories import accounts as account_repo
from db.services.transitions import change_status
from db.unit_of_work import Transaction

MAX_AGE_YEARS = 130
HOLDER_EXISTS = "You already have an account holder profile."


def _holder_problems(first_name: str, last_name: str, date_of_birth: date) -> list[AppError]:
    problems: list[AppError] = []
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if not 1 <= len(value.strip()) <= 100:
            problems.append(ValidationFailed("Names must be 1-100 characters.", field=name))
    today = utcnow().date()
    if not today.replace(year=today.year - MAX_AGE_YEARS) <= date_of_birth <= today:
        problems.append(ValidationFailed("Date of birth is not plausible.", field="date_of_birth"))
    return problems


async def create_holder(
    session: Transaction, user_id: uuid.UUID, first_name: str, last_name: str, date_of_birth: date
) -> AccountHolder:
    """The caller's holder profile (one per user; CONFLICT if it exists)."""
    problems = _holder_problems(first_name, last_name, date_of_birth)
    if problems:
        raise InputErrors(problems)
    if await account_repo.holder_of_user(session, user_id) is not None:
        raise Conflict(HOLDER_EXISTS)
    holder = AccountHolder(
        user_id=user_id, first_name=first_name.strip(), last_name=last_name.strip(),
        date_of_birth=date_of_birth,
    )  # fmt: skip
    session.add(holder)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request created it first
        raise Conflict(HOLDER_EXISTS) from None
    return holder


async def open_account(
    session: Transaction, user_id: uuid.UUID, account_type: AccountType, currency: str
) -> Account:
    """A new, empty account of the caller's holder profile."""
    check_currency(currency, "currency")
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


async def owned_accounts(
    session: Transaction, user_id: uuid.UUID, wanted: Mapping[str, uuid.UUID]
) -> list[Account]:
    """The caller's accounts named by `wanted` (field -> id), row-locked; NOT_FOUND per field."""
    found = await account_repo.owned_accounts_for_update(session, user_id, list(wanted.values()))
    for field, account_id in wanted.items():
        if account_id not in found:
            raise NotFound("No such account.", field=field)
    return [found[account_id] for account_id in wanted.values()]


def require_active(account: Account, field: str) -> None:
    """ACCOUNT_NOT_ACTIVE unless the account may move money or take a card."""
    if account.status != AccountStatus.ACTIVE.value:
        msg = f"The account is {account.status.lower()}."
        raise AccountNotActive(msg, field=field)


TRANSITIONS = {
    AccountStatus.FROZEN: {AccountStatus.ACTIVE},
    AccountStatus.ACTIVE: {AccountStatus.FROZEN},
    AccountStatus.CLOSED: {AccountStatus.ACTIVE, AccountStatus.FROZEN},
}
"""Target status -> the statuses it may be reached from."""


async def change_account_status(
    session: Transaction, user_id: uuid.UUID, account_id: uuid.UUID, target: AccountStatus
) -> Account:
    """Freeze, unfreeze or close one of the caller's accounts; closing needs a zero balance."""
    [account] = await owned_accounts(session, user_id, {"account_id": account_id})
    if target is AccountStatus.CLOSED and account.balance != 0 and account.status != target:
        msg = "Only an account with a zero balance can be closed."
        raise ValidationFailed(msg, field="account_id")
    await change_status(session, account, TRANSITIONS, target, noun="account", field="account_id")
    return account
