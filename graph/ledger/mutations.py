"""Ledger mutations: deposits, withdrawals and transfers, each once per idempotency key.

Money moves only between the caller's own accounts; staff permissions read but never move money.
"""

from __future__ import annotations

import uuid

import strawberry

from db.models import Account, TransactionType
from db.records.ledger import TransactionFields
from db.repositories import ledger as ledger_repo
from db.services import ledger as ledger_service
from graph.accounts.loaders import AccountsById
from graph.accounts.types import AccountNode
from graph.common.ids import node_uuid
from graph.common.info import Info
from graph.common.payloads import UserError, attempt, in_transaction
from graph.ledger.inputs import MoneyMovementInput, TransferInput
from graph.ledger.loaders import TransfersById
from graph.ledger.types import TransactionNode, TransferNode
from graph.permissions import IsAuthenticated


@strawberry.type
class MoneyMovementPayload:
    """The posted transaction and the account after it, or why nothing moved."""

    transaction: TransactionNode | None
    account: AccountNode | None
    errors: list[UserError]


@strawberry.type
class TransferPayload:
    """The transfer and both accounts after it, or why nothing moved."""

    transfer: TransferNode | None
    from_account: AccountNode | None
    to_account: AccountNode | None
    errors: list[UserError]


def _prime_accounts(info: Info, *accounts: Account) -> None:
    """Serve rows a write just committed, for accounts the caller owns, without a re-read."""
    loader = info.context.loaders.get(AccountsById)
    for account in accounts:
        loader.prime(account.id, account)


async def _account_view(info: Info, account_id: uuid.UUID) -> AccountNode | None:
    row = await info.context.loaders.get(AccountsById).load(account_id)
    return AccountNode.from_model(row) if row is not None else None


async def _movement(
    info: Info, input: MoneyMovementInput, kind: TransactionType
) -> MoneyMovementPayload:
    principal = await info.context.require_principal()

    async def work() -> ledger_service.Movement:
        account_id = node_uuid(input.account_id, "Account", ["input", "accountId"])
        return await in_transaction(
            info.context,
            lambda transaction: ledger_service.deposit_or_withdraw(
                transaction, principal.user_id, kind, account_id, input.amount,
                key=input.idempotency_key, description=input.description,
            ),
        )  # fmt: skip

    moved, errors = await attempt(info.context, work())  # ids are decoded before it opens
    if moved is None:
        return MoneyMovementPayload(transaction=None, account=None, errors=errors)
    if moved.written is not None:  # the caller's own account, just written: nothing to re-read
        line: TransactionFields | None = moved.written[0]
        _prime_accounts(info, moved.written[1])
    else:
        found = await info.context.uow.query_core(
            ledger_repo.transactions_by_ids, principal, [moved.transaction_id]
        )
        line = found.get(moved.transaction_id)
    return MoneyMovementPayload(
        transaction=TransactionNode.from_model(line) if line is not None else None,
        account=await _account_view(info, moved.account_id),
        errors=[],
    )


@strawberry.type
class LedgerMutations:
    """Ledger mutations of the mutation root."""

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Put money into your account, once per idempotency key.",
    )
    async def deposit(self, info: Info, input: MoneyMovementInput) -> MoneyMovementPayload:
        """A repeated key returns the first result; BALANCE_LIMIT_EXCEEDED past 2^53 - 1."""
        return await _movement(info, input, TransactionType.DEPOSIT)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Take money out of your account, once per idempotency key.",
    )
    async def withdraw(self, info: Info, input: MoneyMovementInput) -> MoneyMovementPayload:
        """INSUFFICIENT_FUNDS when the balance is too low; nothing moves."""
        return await _movement(info, input, TransactionType.WITHDRAWAL)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Move money between two of your accounts: both legs or neither, once per key.",
    )
    async def transfer(self, info: Info, input: TransferInput) -> TransferPayload:
        """CURRENCY_MISMATCH, INSUFFICIENT_FUNDS, BALANCE_LIMIT_EXCEEDED, ACCOUNT_NOT_ACTIVE."""
        principal = await info.context.require_principal()

        async def work() -> ledger_service.TransferOutcome:
            source = node_uuid(input.from_account_id, "Account", ["input", "fromAccountId"])
            target = node_uuid(input.to_account_id, "Account", ["input", "toAccountId"])
            return await in_transaction(
                info.context,
                lambda transaction: ledger_service.transfer(
                    transaction, principal.user_id, source, target, input.amount,
                    key=input.idempotency_key, description=input.description,
                ),
            )  # fmt: skip

        moved, errors = await attempt(info.context, work())
        if moved is None:
            return TransferPayload(transfer=None, from_account=None, to_account=None, errors=errors)
        if moved.written is not None:  # the caller's own accounts, just written: no re-read
            written_transfer, *accounts = moved.written
            info.context.loaders.get(TransfersById).prime(written_transfer.id, written_transfer)
            _prime_accounts(info, *accounts)
        row = await info.context.loaders.get(TransfersById).load(moved.transfer_id)
        return TransferPayload(
            transfer=TransferNode.from_model(row) if row is not None else None,
            from_account=await _account_view(info, moved.from_account_id),
            to_account=await _account_view(info, moved.to_account_id),
            errors=[],
        )
