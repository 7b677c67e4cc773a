"""Banking mutations: holder profile, accounts, money movements and cards.

Money moves only between the caller's own accounts; staff permissions read but never move money.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date

import strawberry

from db.models import Account, AccountStatus, Card, CardStatus, LedgerTransaction, TransactionType
from db.repositories import ledger as ledger_repo
from db.services import accounts as account_service
from db.services import cards as card_service
from db.services import money as money_service
from graph.banking.loaders import AccountsById, TransfersById
from graph.banking.types import (
    AccountHolderNode,
    AccountNode,
    AccountTypeEnum,
    CardNode,
    CardTypeEnum,
    Info,
    TransactionNode,
    TransferNode,
    node_uuid,
)
from graph.errors import UserError
from graph.mutations import attempt
from graph.permissions import IsAuthenticated
from graph.scalars import Long


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


@strawberry.input
class MoneyMovementInput:
    """A deposit or withdrawal; the same `idempotencyKey` never moves money twice."""

    account_id: strawberry.ID
    amount: Long = strawberry.field(description="Minor units, 1 to 2^53 - 1.")
    idempotency_key: str
    description: str = ""


@strawberry.input
class TransferInput:
    """A transfer between two of your accounts in the same currency."""

    from_account_id: strawberry.ID
    to_account_id: strawberry.ID
    amount: Long = strawberry.field(description="Minor units, 1 to 2^53 - 1.")
    idempotency_key: str
    description: str = ""


@strawberry.input
class IssueCardInput:
    """The account for the new card and its type."""

    account_id: strawberry.ID
    type: CardTypeEnum  # type: ignore[valid-type]


@strawberry.input
class CardIdInput:
    """The card to act on."""

    card_id: strawberry.ID


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


@strawberry.type
class CardPayload:
    """The changed card, or why nothing changed."""

    card: CardNode | None
    errors: list[UserError]


@strawberry.type
class IssueCardPayload:
    """The new card; its full number and security code appear here once and never again."""

    card: CardNode | None
    card_number: str | None = strawberry.field(
        description="The full card number: shown only in this response, never stored."
    )
    security_code: str | None = strawberry.field(
        description="The card's security code: shown only in this response, never stored."
    )
    errors: list[UserError]


def _prime_accounts(info: Info, *accounts: Account) -> None:
    """Serve rows a write just committed, for accounts the caller owns, without a re-read."""
    loader = info.context.loaders.get(AccountsById)
    for account in accounts:
        loader.prime(account.id, account)


async def _account_view(info: Info, account_id: uuid.UUID) -> AccountNode | None:
    row = await info.context.loaders.get(AccountsById).load(account_id)
    return AccountNode.from_model(row) if row is not None else None


async def _account_change(info: Info, change: Callable[[], Awaitable[Account]]) -> AccountPayload:
    account, errors = await attempt(info.context, change())
    return AccountPayload(
        account=AccountNode.from_model(account) if account else None, errors=errors
    )


async def _card_change(info: Info, value: strawberry.ID, target: CardStatus) -> CardPayload:
    principal = await info.context.require_principal()

    async def work() -> Card:
        card_id = node_uuid(value, "Card", ["input", "cardId"])
        return await card_service.change_status(
            info.context.uow, principal.user_id, card_id, target
        )

    card, errors = await attempt(info.context, work())
    return CardPayload(card=CardNode.from_model(card) if card else None, errors=errors)


async def _status_change(info: Info, value: strawberry.ID, target: AccountStatus) -> AccountPayload:
    principal = await info.context.require_principal()

    async def work() -> Account:
        account_id = node_uuid(value, "Account", ["input", "accountId"])
        return await account_service.change_status(
            info.context.uow, principal.user_id, account_id, target
        )

    return await _account_change(info, work)


async def _movement(
    info: Info, input: MoneyMovementInput, kind: TransactionType
) -> MoneyMovementPayload:
    principal = await info.context.require_principal()

    async def work() -> money_service.Movement:
        account_id = node_uuid(input.account_id, "Account", ["input", "accountId"])
        return await money_service.deposit_or_withdraw(
            info.context.uow, principal.user_id, kind, account_id, input.amount,
            key=input.idempotency_key, description=input.description,
        )  # fmt: skip

    moved, errors = await attempt(info.context, work())
    if moved is None:
        return MoneyMovementPayload(transaction=None, account=None, errors=errors)
    if moved.written is not None:  # the caller's own account, just written: nothing to re-read
        line: LedgerTransaction | None = moved.written[0]
        _prime_accounts(info, moved.written[1])
    else:
        found = await info.context.uow.query(
            ledger_repo.transactions_by_ids, principal, [moved.transaction_id]
        )
        line = found.get(moved.transaction_id)
    return MoneyMovementPayload(
        transaction=TransactionNode.from_model(line) if line is not None else None,
        account=await _account_view(info, moved.account_id),
        errors=[],
    )


@strawberry.type
class BankingMutations:
    """Banking mutations of the mutation root."""

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Create your account holder profile (one per user).",
    )
    async def create_account_holder(
        self, info: Info, input: CreateAccountHolderInput
    ) -> AccountHolderPayload:
        """VALIDATION_FAILED or CONFLICT come back in `errors`."""
        principal = await info.context.require_principal()
        holder, errors = await attempt(
            info.context,
            account_service.create_holder(
                info.context.uow, principal.user_id, input.first_name, input.last_name,
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

        async def work() -> Account:
            return await account_service.open_account(
                info.context.uow, principal.user_id, input.type, input.currency
            )

        return await _account_change(info, work)

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

        async def work() -> money_service.TransferOutcome:
            source = node_uuid(input.from_account_id, "Account", ["input", "fromAccountId"])
            target = node_uuid(input.to_account_id, "Account", ["input", "toAccountId"])
            return await money_service.transfer(
                info.context.uow, principal.user_id, source, target, input.amount,
                key=input.idempotency_key, description=input.description,
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

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Issue a card on your active account; the number is shown only in this reply.",
    )
    async def issue_card(self, info: Info, input: IssueCardInput) -> IssueCardPayload:
        """ACCOUNT_NOT_ACTIVE or CONFLICT (too many cards) come back in `errors`."""
        principal = await info.context.require_principal()
        key = info.context.settings.card_fingerprint_key()

        async def work() -> card_service.IssuedCard:
            account_id = node_uuid(input.account_id, "Account", ["input", "accountId"])
            return await card_service.issue(
                info.context.uow, principal.user_id, account_id, input.type, key
            )

        issued, errors = await attempt(info.context, work())
        if issued is None:
            return IssueCardPayload(card=None, card_number=None, security_code=None, errors=errors)
        return IssueCardPayload(
            card=CardNode.from_model(issued.card), card_number=issued.number,
            security_code=issued.security_code, errors=[],
        )  # fmt: skip

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Block a card for now.")
    async def freeze_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT unless the card is active."""
        return await _card_change(info, input.card_id, CardStatus.FROZEN)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Unblock a frozen card.")
    async def unfreeze_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT unless the card is frozen."""
        return await _card_change(info, input.card_id, CardStatus.ACTIVE)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Cancel a card for good (final)."
    )
    async def cancel_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT when already cancelled."""
        return await _card_change(info, input.card_id, CardStatus.CANCELLED)
