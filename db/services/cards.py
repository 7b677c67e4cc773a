"""Cards: issuing (the full number exists only in the issue response) and status changes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.errors import AccountNotActive, Conflict, NotFound
from db.models import Account, AccountHolder, AccountStatus, Card, CardStatus, CardType
from db.repositories import accounts as account_repo
from db.services.transitions import change_status as apply_transition
from db.session import UnitOfWork

ISSUER_PREFIX = "4"
"""Card numbers start like Visa numbers (a test range would be issuer-specific)."""
CARD_DIGITS = 16
VALID_YEARS = 4
ISSUE_ATTEMPTS = 3
MAX_LIVE_CARDS = 5
"""Cards per account that are not cancelled."""


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A new card with the secrets shown once: the full number and the security code."""

    card: Card
    number: str
    security_code: str


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that makes `digits` + it a valid card number."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value  # digit sum of 10..18
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Whether a card number passes the Luhn check."""
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def new_card_number() -> str:
    """A random 16-digit card number with a valid Luhn check digit."""
    body_length = CARD_DIGITS - len(ISSUER_PREFIX) - 1
    body = ISSUER_PREFIX + "".join(secrets.choice("0123456789") for _ in range(body_length))
    return body + luhn_check_digit(body)


def fingerprint(number: str, key: bytes) -> str:
    """A keyed HMAC of a card number: matches the card without revealing or storing it."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


async def issue(
    uow: UnitOfWork, user_id: uuid.UUID, account_id: uuid.UUID, card_type: CardType, key: bytes
) -> IssuedCard:
    """A new card on one of the caller's active accounts; its number is returned only here."""
    for _ in range(ISSUE_ATTEMPTS):
        number = new_card_number()
        try:
            async with uow.write() as session:
                found = await account_repo.owned_accounts_for_update(session, user_id, [account_id])
                account = found.get(account_id)
                if account is None:
                    raise NotFound("No such account.", field=["input", "accountId"])
                if account.status != AccountStatus.ACTIVE.value:
                    msg = f"The account is {account.status.lower()}."
                    raise AccountNotActive(msg, field=["input", "accountId"])
                live = await session.scalar(
                    select(func.count())
                    .select_from(Card)
                    .where(Card.account_id == account_id, Card.status != CardStatus.CANCELLED.value)
                )
                if (live or 0) >= MAX_LIVE_CARDS:
                    msg = f"An account has at most {MAX_LIVE_CARDS} cards that are not cancelled."
                    raise Conflict(msg, field=["input", "accountId"])
                expires = utcnow()
                card = Card(
                    account_id=account_id, type=card_type.value, last4=number[-4:],
                    expiry_month=expires.month, expiry_year=expires.year + VALID_YEARS,
                    status=CardStatus.ACTIVE.value, fingerprint=fingerprint(number, key),
                )  # fmt: skip
                session.add(card)
                await session.flush()
        except IntegrityError:  # a fingerprint collision: draw another number
            continue
        security_code = f"{secrets.randbelow(1000):03d}"
        return IssuedCard(card=card, number=number, security_code=security_code)
    msg = "Could not issue a card; try again."  # pragma: no cover - needs repeated collisions
    raise Conflict(msg)  # pragma: no cover


CARD_TRANSITIONS = {
    CardStatus.FROZEN: {CardStatus.ACTIVE},
    CardStatus.ACTIVE: {CardStatus.FROZEN},
    CardStatus.CANCELLED: {CardStatus.ACTIVE, CardStatus.FROZEN},
}
"""Target status -> the statuses it may be reached from (cancelled is final)."""


async def change_status(
    uow: UnitOfWork, user_id: uuid.UUID, card_id: uuid.UUID, target: CardStatus
) -> Card:
    """Freeze, unfreeze or cancel one of the caller's cards."""
    async with uow.write() as session:
        statement = (
            select(Card)
            .join(Account, Account.id == Card.account_id)
            .join(AccountHolder, AccountHolder.id == Account.holder_id)
            .where(Card.id == card_id, AccountHolder.user_id == user_id)
            .with_for_update(of=Card)
        )
        card = (await session.execute(statement)).scalar_one_or_none()
        if card is None:
            raise NotFound("No such card.", field=["input", "cardId"])
        await apply_transition(
            session, card, CARD_TRANSITIONS, target, noun="card", field="card_id"
        )
        return card
