"""GraphQL inputs of the accounts domain."""

from __future__ import annotations

from datetime import date

import strawberry

from graph.accounts.types import AccountTypeEnum


@strawberry.input
class CreateAccountHolderInput:
    """Your holder profile."""

    first_name: str
    last_name: str
    date_of_birth: date


@strawberry.input
class OpenAccountInput:
    """The kind of account and its ISO 4217 currency."""

    type: AccountTypeEnum  # type: ignore[valid-type]
    currency: str


@strawberry.input
class AccountIdInput:
    """The account to act on."""

    account_id: strawberry.ID
