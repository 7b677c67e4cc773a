"""Money movements: deposits, withdrawals and atomic transfers, each idempotent per key.

Every movement takes one path (`_move`) inside the caller's write transaction: it validates the
request, fingerprints it, locks the accounts involved (in id order, so opposite transfers cannot
deadlock), replays the key's first outcome or refuses a key reused with different input, checks
the movement's rules, posts its ledger lines, stores the key with its outcome and flushes. A
repeated request waits on the same row locks, so it sees the first one's key and replays its
outcome; a key reused with different input is refused before anything moves. Services flush
and never commit; errors name fields in the domain's words (`from_account_id`, `amount`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    IdempotencyKeyReused,
    InsufficientFunds,
    ValidationFailed,
)
from db.models import Account, IdempotencyRecord, LedgerTransaction, TransactionType, Transfer
from db.money import MAX_BALANCE, check_amount
from db.repositories import ledger as ledger_repo
from db.services.accounts import owned_accounts, require_active
from db.unit_of_work import Transaction

OutcomeT = TypeVar("OutcomeT")

KEY_LIFETIME = timedelta(hours=24)
KEY_INDEX = "uq_idempotency_user_key"
MAX_KEY_LENGTH = 200
MAX_DESCRIPTION = 200
BALANCE_LIMIT_CHECKS = (
    "ck_accounts_balance_within_limit",
    "ck_transactions_balance_after_within_limit",
)
"""The database CHECKs that back `_check_room` (migration 0006)."""
FINGERPRINT_NAMES = {
    "account_id": "account",
    "from_account_id": "source",
    "to_account_id": "target",
}
"""Each account field's name in a request fingerprint (stored fingerprints depend on them)."""


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


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A money movement as its idempotency key identifies it."""

    user_id: uuid.UUID
    key: str
    operation: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class MoneyRequest:
    """A movement as the client asked for it."""

    user_id: uuid.UUID
    operation: str
    accounts: dict[str, uuid.UUID]
    """Field -> account id, in the order the movement's rules take the accounts."""
    amount: int
    key: str
    description: str

    def keyed(self) -> KeyedRequest:
        """The request as its key identifies it: a repeat must match its fingerprint."""
        named = {FINGERPRINT_NAMES[field]: account for field, account in self.accounts.items()}
        document = json.dumps(
            {"operation": self.operation, **named, "amount": self.amount, "text": self.description},
            sort_keys=True,
            default=str,
        )
        fingerprint = hashlib.sha256(document.encode()).hexdigest()
        return KeyedRequest(self.user_id, self.key, self.operation, fingerprint)


Post = Callable[[list[Account]], Awaitable[tuple[OutcomeT, dict[str, str]]]]
"""A movement's own step: its rules and ledger lines; returns the outcome and what to replay."""


def _check_request(request: MoneyRequest) -> None:
    check_amount(request.amount, "amount")
    if not 1 <= len(request.key) <= MAX_KEY_LENGTH:
        msg = f"The idempotency key must be 1-{MAX_KEY_LENGTH} characters."
        raise ValidationFailed(msg, field="idempotency_key")
    if len(request.description) > MAX_DESCRIPTION:
        msg = f"The description must be at most {MAX_DESCRIPTION} characters."
        raise ValidationFailed(msg, field="description")
    if len(set(request.accounts.values())) < len(request.accounts):  # a transfer names two
        msg = "A transfer needs two different accounts."
        raise ValidationFailed(msg, field=list(request.accounts)[-1])


async def _replay(session: Transaction, request: KeyedRequest) -> dict[str, Any] | None:
    """The stored outcome for this key, None if unused; IDEMPOTENCY_KEY_REUSED on a mismatch."""
    record = await ledger_repo.idempotency_record(session, request.user_id, request.key)
    if record is None:
        return None
    if record.expires_at <= utcnow():  # an expired key is free again
        await ledger_repo.forget_idempotency_record(session, record)
        return None
    if record.operation != request.operation or record.request_hash != request.request_hash:
        raise _reused_key()
    return record.result


def _remember(session: Transaction, request: KeyedRequest, result: dict[str, str]) -> None:
    now = utcnow()
    ledger_repo.remember_idempotency(
        session,
        IdempotencyRecord(
            user_id=request.user_id, key=request.key, operation=request.operation,
            request_hash=request.request_hash, result=result, created_at=now,
            expires_at=now + KEY_LIFETIME,
        ),
    )  # fmt: skip


async def _move(
    session: Transaction,
    request: MoneyRequest,
    post: Post[OutcomeT],
    replayed: Callable[[dict[str, Any]], OutcomeT],
) -> OutcomeT:
    """Run one movement: validate, lock, replay or refuse its key, `post` it, remember the key."""
    _check_request(request)
    keyed = request.keyed()
    try:
        accounts = await owned_accounts(session, request.user_id, request.accounts)
        stored = await _replay(session, keyed)
        if stored is not None:
            return replayed(stored)
        outcome, result = await post(accounts)
        _remember(session, keyed, result)
        await session.flush()
    except IntegrityError as error:
        _raise_if_known(error)
        raise
    return outcome


def _check_room(account: Account, amount: int) -> None:
    """BALANCE_LIMIT_EXCEEDED when crediting `amount` would take the balance past the limit."""
    if account.balance + amount > MAX_BALANCE:
        room = MAX_BALANCE - account.balance
        msg = (
            f"The balance may not exceed {MAX_BALANCE} minor units: "
            f"this account can take at most {room} more."
        )
        raise BalanceLimitExceeded(msg, field="amount")


def _post(
    session: Transaction,
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
            raise InsufficientFunds("The account balance is too low.", field="amount")
        account.balance -= amount
    account.entries += 1
    line = LedgerTransaction(
        id=uuid.uuid4(), account_id=account.id, entry=account.entries, type=kind.value,
        amount=amount, currency=account.currency, balance_after=account.balance,
        description=description, transfer_id=transfer_id,
    )  # fmt: skip
    session.add(line)
    return line


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
        raise BalanceLimitExceeded(field="amount") from None


def _reused_key() -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        "This idempotency key was used for a different request.", field="idempotency_key"
    )


async def deposit_or_withdraw(
    session: Transaction,
    user_id: uuid.UUID,
    kind: TransactionType,
    account_id: uuid.UUID,
    amount: int,
    *,
    key: str,
    description: str = "",
) -> Movement:
    """Credit (DEPOSIT) or debit (WITHDRAWAL) one of the caller's accounts, once per key."""
    wanted = {"account_id": account_id}
    request = MoneyRequest(user_id, kind.value, wanted, amount, key, description)

    async def post(accounts: list[Account]) -> tuple[Movement, dict[str, str]]:
        [account] = accounts
        require_active(account, "account_id")
        line = _post(session, account, kind, amount, description)
        return Movement(line.id, account_id, written=(line, account)), {"transaction": str(line.id)}

    def replayed(stored: dict[str, Any]) -> Movement:
        return Movement(uuid.UUID(stored["transaction"]), account_id)

    return await _move(session, request, post, replayed)


async def transfer(
    session: Transaction,
    user_id: uuid.UUID,
    from_account_id: uuid.UUID,
    to_account_id: uuid.UUID,
    amount: int,
    *,
    key: str,
    description: str = "",
) -> TransferOutcome:
    """Move money between two of the caller's accounts: both legs or neither, once per key."""
    wanted = {"from_account_id": from_account_id, "to_account_id": to_account_id}
    request = MoneyRequest(user_id, "TRANSFER", wanted, amount, key, description)

    async def post(accounts: list[Account]) -> tuple[TransferOutcome, dict[str, str]]:
        source, target = accounts
        require_active(source, "from_account_id")
        require_active(target, "to_account_id")
        if source.currency != target.currency:
            msg = f"Cannot transfer {source.currency} into a {target.currency} account."
            raise CurrencyMismatch(msg, field="to_account_id")
        _check_room(target, amount)
        moved = Transfer(
            id=uuid.uuid4(), from_account_id=source.id, to_account_id=target.id,
            amount=amount, currency=source.currency, description=description,
        )  # fmt: skip
        session.add(moved)
        await session.flush()  # the legs refer to it
        for account, leg in (
            (source, TransactionType.TRANSFER_OUT),
            (target, TransactionType.TRANSFER_IN),
        ):
            _post(session, account, leg, amount, description, transfer_id=moved.id)
        outcome = TransferOutcome(
            moved.id, from_account_id, to_account_id, written=(moved, source, target)
        )
        return outcome, {"transfer": str(moved.id)}

    def replayed(stored: dict[str, Any]) -> TransferOutcome:
        return TransferOutcome(uuid.UUID(stored["transfer"]), from_account_id, to_account_id)

    return await _move(session, request, post, replayed)
