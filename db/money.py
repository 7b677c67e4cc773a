"""Money rules: ISO 4217 currencies with their exponents, and bounded integer amounts."""

from __future__ import annotations

from functools import cache

from iso4217 import Currency

from db.errors import ValidationFailed

MAX_AMOUNT = 2**53 - 1
"""The largest amount in minor units (JSON-safe)."""

MAX_BALANCE = MAX_AMOUNT
"""The largest balance an account may hold; the database CHECKs it too (migration 0006)."""


@cache
def currency_exponent(code: str) -> int | None:
    """The number of minor-unit digits of an ISO 4217 currency, or None if it is not one."""
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        return None
    try:
        exponent = Currency(code).exponent
    except ValueError:
        return None
    return exponent  # None for funds and metals (XAU, XXX), which accounts cannot hold


def check_currency(code: str, field: str) -> str:
    """A currency an account may hold, or VALIDATION_FAILED."""
    if currency_exponent(code) is None:
        msg = "Currency must be an ISO 4217 code with minor units, such as USD, JPY or KWD."
        raise ValidationFailed(msg, field=field)
    return code


def check_amount(amount: int, field: str) -> int:
    """A positive integer amount in minor units up to 2^53 - 1, or VALIDATION_FAILED."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        msg = f"Amount must be a whole number of minor units between 1 and {MAX_AMOUNT}."
        raise ValidationFailed(msg, field=field)
    return amount


def format_amount(amount: int, currency: str) -> str:
    """The amount in major units with the currency's exponent: 1234 USD is "12.34"."""
    exponent = currency_exponent(currency) or 0
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"
