"""Cards: issuing (the full number exists only in the issue response) and status changes.

Services run inside the caller's write transaction (`Transaction`): they flush, never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from stdnum import luhn

from db.base import utcnow
from db.errors import Conflict, NotFound
from db.models import Card, CardStatus, CardType
from db.repositories import cards as card_repo
from db.services.accounts import owned_accounts, require_active
from db.services.transitions import change_status
from db.unit_of_work import Transaction

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


def new_card_number() -> str:
    """A random 16-digit card number with a valid Luhn check digit."""
    body_length = CARD_DIGITS - len(ISSUER_PREFIX) - 1
    body = ISSUER_PREFIX + "".join(secrets.choice("0123456789") for _ in range(body_length))
    return body + luhn.calc_check_digit(body)


def fingerprint(number: str, key: bytes) -> str:
    """A keyed HMAC of a card number: matches the card without revealing or storing it."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


async def issue(
    session: Transaction,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    card_type: CardType,
    key: bytes,
) -> IssuedCard:
    """A new card on one of the caller's active accounts; its number is returned only here."""
    [account] = await owned_accounts(session, user_id, {"account_id": account_id})
    require_active(account, "account_id")
    if await card_repo.live_card_count(session, account.id) >= MAX_LIVE_CARDS:
        msg = f"An account has at most {MAX_LIVE_CARDS} cards that are not cancelled."
        raise Conflict(msg, field="account_id")
    for _ in range(ISSUE_ATTEMPTS):
        number = new_card_number()
        expires = utcnow()
        card = Card(
            account_id=account.id, type=card_type.value, last4=number[-4:],
            expiry_month=expires.month, expiry_year=expires.year + VALID_YEARS,
            status=CardStatus.ACTIVE.value, fingerprint=fingerprint(number, key),
        )  # fmt: skip
        try:
            async with session.begin_nested():  # a collision undoes only this attempt
                session.add(card)
                await session.flush()
        except IntegrityError:  # pragma: no cover - a fingerprint collision: draw another number
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


async def change_card_status(
    session: Transaction, user_id: uuid.UUID, card_id: uuid.UUID, target: CardStatus
) -> Card:
    """Freeze, unfreeze or cancel one of the caller's cards."""
    card = await card_repo.owned_card_for_update(session, user_id, card_id)
    if card is None:
        raise NotFound("No such card.", field="card_id")
    await change_status(session, card, CARD_TRANSITIONS, target, noun="card", field="card_id")
    return card
