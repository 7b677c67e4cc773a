"""Money movements: deposits, withdrawals and atomic transfers, each idempotent per key.

Every movement runs in one write transaction that first locks the accounts involved (in id
order, so opposite transfers cannot deadlock), then checks the idempotency key, the rules and
the balance, posts its ledger lines and stores the key with its outcome. A repeated request
waits on the same row locks, so it sees the first one's key and replays its outcome; a key
reused with different input is refused before anything moves.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.errors import (
    AccountNotActive,
    BalanceLimitExceeded,
    CurrencyMismatch,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    ValidationFailed,
)
from db.models import (
    Account,
    AccountStatus,
    IdempotencyRecord,
    LedgerTransaction,
    TransactionType,
    Transfer,
)
from db.money import MAX_BALANCE, check_amount
from db.repositories import accounts as account_repo
from db.session import UnitOfWork

KEY_LIFETIME = timedelta(hours=24)
KEY_INDEX = "uq_idempotency_user_key"
MAX_KEY_LENGTH = 200
MAX_DESCRIPTION = 200
BALANCE_LIMIT_CHECKS = (
    "ck_accounts_balance_within_limit",
    "ck_transactions_balance_after_within_limit",
)
"""The database CHECKs that back `_check_room` (migration 0006)."""


async def _no_fault() -> None:
    return None


between_legs: Callable[[], Awaitable[None]] = _no_fault
"""Runs between a transfer's two legs; tests replace it to inject a failure there."""


@dataclass(frozen=True, slots=True)
class Movement:
    """What a deposit or withdrawal produced."""

    transaction_id: uuid.UUID
    account_id: uuid.UUID
    written: tuple[LedgerTransaction, Account] | None = None
    """The line and account as committed; None when the key replayed an earlier movement."""


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """What a transfer produced."""

    transfer_id: uuid.UUID
    from_account_id: uuid.UUID
    to_account_id: uuid.UUID
    written: tuple[Transfer, Account, Account] | None = None
    """The transfer and both accounts as committed; None when the key replayed a transfer."""


def _fingerprint(operation: str, **request: Any) -> str:
    document = json.dumps({"operation": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()


def _check_request(amount: int, key: str, description: str) -> None:
    check_amount(amount, "amount")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        msg = f"The idempotency key must be 1-{MAX_KEY_LENGTH} characters."
        raise ValidationFailed(msg, field=["input", "idempotencyKey"])
    if len(description) > MAX_DESCRIPTION:
        msg = f"The description must be at most {MAX_DESCRIPTION} characters."
        raise ValidationFailed(msg, field=["input", "description"])


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A money movement as its idempotency key identifies it."""

    user_id: uuid.UUID
    key: str
    operation: str
    request_hash: str


async def _replay(session: AsyncSession, request: KeyedRequest) -> dict[str, Any] | None:
    """The stored outcome for this key, None if unused; IDEMPOTENCY_KEY_REUSED on a mismatch."""
    mine = (IdempotencyRecord.user_id == request.user_id, IdempotencyRecord.key == request.key)
    record = (await session.execute(select(IdempotencyRecord).where(*mine))).scalar_one_or_none()
    if record is None:
        return None
    if record.expires_at <= utcnow():  # an expired key is free again
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        return None
    if record.operation != request.operation or record.request_hash != request.request_hash:
        raise _reused_key()
    return record.result


def _remember(session: AsyncSession, request: KeyedRequest, result: dict[str, str]) -> None:
    now = utcnow()
    session.add(
        IdempotencyRecord(
            user_id=request.user_id, key=request.key, operation=request.operation,
            request_hash=request.request_hash, result=result, created_at=now,
            expires_at=now + KEY_LIFETIME,
        )
    )  # fmt: skip


def _check_room(account: Account, amount: int) -> None:
    """BALANCE_LIMIT_EXCEEDED when crediting `amount` would take the balance past the limit."""
    if account.balance + amount > MAX_BALANCE:
        room = MAX_BALANCE - account.balance
        msg = (
            f"The balance may not exceed {MAX_BALANCE} minor units: "
            f"this account can take at most {room} more."
        )
        raise BalanceLimitExceeded(msg, field=["input", "amount"])


def _post(
    session: AsyncSession,
    account: Account,
    kind: TransactionType,
    amount: int,
    description: str,
    *,
    transfer_id: uuid.UUID | None = None,
) -> LedgerTransaction:
    """Move the balance and add the ledger line that explains it."""
    if kind.is_credit:
        _check_room(account, amount)
        account.balance += amount
    else:
        if account.balance < amount:
            raise InsufficientFunds("The account balance is too low.", field=["input", "amount"])
        account.balance -= amount
    account.entries += 1
    line = LedgerTransaction(
        id=uuid.uuid4(), account_id=account.id, entry=account.entries, type=kind.value,
        amount=amount, currency=account.currency, balance_after=account.balance,
        description=description, transfer_id=transfer_id,
    )  # fmt: skip
    session.add(line)
    return line


def _active(account: Account, field: str) -> None:
    if account.status != AccountStatus.ACTIVE.value:
        msg = f"The account is {account.status.lower()}."
        raise AccountNotActive(msg, field=["input", field])


async def _owned(
    session: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID], fields: list[str]
) -> list[Account]:
    found = await account_repo.owned_accounts_for_update(session, user_id, ids)
    for account_id, field in zip(ids, fields, strict=True):
        if account_id not in found:
            raise NotFound("No such account.", field=["input", field])
    return [found[account_id] for account_id in ids]


def _raise_if_known(error: IntegrityError) -> None:
    """Turn the integrity errors a client can be told about into their business answer.

    The same key raced with a different request and lost: IDEMPOTENCY_KEY_REUSED. A balance
    past the limit got by the check in `_post` (the database's CHECK caught it):
    BALANCE_LIMIT_EXCEEDED. Any other integrity error is a fault and propagates as it is.
    """
    reason = str(error.orig)
    if IdempotencyRecord.__tablename__ in reason or KEY_INDEX in reason:
        raise _reused_key() from None
    if any(name in reason for name in BALANCE_LIMIT_CHECKS):
        raise BalanceLimitExceeded(field=["input", "amount"]) from None


def _reused_key() -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        "This idempotency key was used for a different request.",
        field=["input", "idempotencyKey"],
    )


async def deposit_or_withdraw(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    kind: TransactionType,
    account_id: uuid.UUID,
    amount: int,
    *,
    key: str,
    description: str = "",
) -> Movement:
    """Credit (DEPOSIT) or debit (WITHDRAWAL) one of the caller's accounts, once per key."""
    _check_request(amount, key, description)
    request = KeyedRequest(
        user_id, key, kind.value,
        _fingerprint(kind.value, account=account_id, amount=amount, text=description),
    )  # fmt: skip
    try:
        async with uow.write() as session:
            [account] = await _owned(session, user_id, [account_id], ["accountId"])
            replayed = await _replay(session, request)
            if replayed is not None:
                return Movement(uuid.UUID(replayed["transaction"]), account_id)
            _active(account, "accountId")
            line = _post(session, account, kind, amount, description)
            _remember(session, request, {"transaction": str(line.id)})
            await session.flush()
    except IntegrityError as error:
        _raise_if_known(error)
        raise
    return Movement(line.id, account_id, written=(line, account))


async def transfer(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    from_account_id: uuid.UUID,
    to_account_id: uuid.UUID,
    amount: int,
    *,
    key: str,
    description: str = "",
) -> TransferOutcome:
    """Move money between two of the caller's accounts: both legs or neither, once per key."""
    _check_request(amount, key, description)
    if from_account_id == to_account_id:
        msg = "A transfer needs two different accounts."
        raise ValidationFailed(msg, field=["input", "toAccountId"])
    request = KeyedRequest(
        user_id, key, "TRANSFER",
        _fingerprint(
            "TRANSFER", source=from_account_id, target=to_account_id, amount=amount,
            text=description,
        ),
    )  # fmt: skip
    try:
        async with uow.write() as session:
            source, target = await _owned(
                session, user_id, [from_account_id, to_account_id],
                ["fromAccountId", "toAccountId"],
            )  # fmt: skip
            replayed = await _replay(session, request)
            if replayed is not None:
                return TransferOutcome(
                    uuid.UUID(replayed["transfer"]), from_account_id, to_account_id
                )
            _active(source, "fromAccountId")
            _active(target, "toAccountId")
            if source.currency != target.currency:
                msg = f"Cannot transfer {source.currency} into a {target.currency} account."
                raise CurrencyMismatch(msg, field=["input", "toAccountId"])
            _check_room(target, amount)
            moved = Transfer(
                id=uuid.uuid4(), from_account_id=source.id, to_account_id=target.id,
                amount=amount, currency=source.currency, description=description,
            )  # fmt: skip
            session.add(moved)
            await session.flush()
            legs = (TransactionType.TRANSFER_OUT, TransactionType.TRANSFER_IN)
            _post(session, source, legs[0], amount, description, transfer_id=moved.id)
            await session.flush()
            await between_legs()
            _post(session, target, legs[1], amount, description, transfer_id=moved.id)
            _remember(session, request, {"transfer": str(moved.id)})
            await session.flush()
    except IntegrityError as error:
        _raise_if_known(error)
        raise
    return TransferOutcome(
        moved.id, from_account_id, to_account_id, written=(moved, source, target)
    )
