"""Accounts mutations: the holder profile and opening, freezing, unfreezing and closing accounts."""

from __future__ import annotations

import strawberry

from db.models import Account, AccountStatus
from db.services import accounts as account_service
from graph.accounts.inputs import AccountIdInput, CreateAccountHolderInput, OpenAccountInput
from graph.accounts.types import AccountHolderNode, AccountNode
from graph.common.ids import node_uuid
from graph.common.info import Info
from graph.common.payloads import UserError, attempt, in_transaction, run_mutation
from graph.permissions import IsAuthenticated


@strawberry.type
class AccountHolderPayload:
    """The new holder profile, or why nothing changed."""

    account_holder: AccountHolderNode | None
    errors: list[UserError]


@strawberry.type
class AccountPayload:
    """The changed account, or why nothing changed."""

    account: AccountNode | None
    errors: list[UserError]


async def _status_change(info: Info, value: strawberry.ID, target: AccountStatus) -> AccountPayload:
    principal = await info.context.require_principal()

    async def work() -> Account:
        account_id = node_uuid(value, "Account", ["input", "accountId"])
        return await in_transaction(
            info.context,
            lambda transaction: account_service.change_account_status(
                transaction, principal.user_id, account_id, target
            ),
        )

    account, errors = await attempt(info.context, work())  # the id is decoded before it opens
    return AccountPayload(
        account=AccountNode.from_model(account) if account else None, errors=errors
    )


@strawberry.type
class AccountMutations:
    """Accounts mutations of the mutation root."""

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Create your account holder profile (one per user).",
    )
    async def create_account_holder(
        self, info: Info, input: CreateAccountHolderInput
    ) -> AccountHolderPayload:
        """VALIDATION_FAILED or CONFLICT come back in `errors`."""
        principal = await info.context.require_principal()
        holder, errors = await run_mutation(
            info.context,
            lambda transaction: account_service.create_holder(
                transaction, principal.user_id, input.first_name, input.last_name,
                input.date_of_birth,
            ),
        )  # fmt: skip
        node = AccountHolderNode.from_model(holder) if holder else None
        return AccountHolderPayload(account_holder=node, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Open an empty account in an ISO 4217 currency (create a holder first).",
    )
    async def open_account(self, info: Info, input: OpenAccountInput) -> AccountPayload:
        """VALIDATION_FAILED for an unknown currency; NOT_FOUND without a holder profile."""
        principal = await info.context.require_principal()
        account, errors = await run_mutation(
            info.context,
            lambda transaction: account_service.open_account(
                transaction, principal.user_id, input.type, input.currency
            ),
        )
        return AccountPayload(
            account=AccountNode.from_model(account) if account else None, errors=errors
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Stop all movements on your account."
    )
    async def freeze_account(self, info: Info, input: AccountIdInput) -> AccountPayload:
        """CONFLICT unless the account is active."""
        return await _status_change(info, input.account_id, AccountStatus.FROZEN)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Allow movements on your account again."
    )
    async def unfreeze_account(self, info: Info, input: AccountIdInput) -> AccountPayload:
        """CONFLICT unless the account is frozen."""
        return await _status_change(info, input.account_id, AccountStatus.ACTIVE)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Close your account for good; its balance must be zero.",
    )
    async def close_account(self, info: Info, input: AccountIdInput) -> AccountPayload:
        """VALIDATION_FAILED with money left; CONFLICT when already closed."""
        return await _status_change(info, input.account_id, AccountStatus.CLOSED)
