"""The Money type every domain that counts money shares."""

from __future__ import annotations

import strawberry

from db.money import format_amount
from graph.scalars import Long


@strawberry.type(description="An amount of money in one currency.")
class Money:
    """Integer minor units with the currency they are counted in."""

    amount: Long = strawberry.field(description="In minor units (cents; yen; fils).")
    currency: str = strawberry.field(description="ISO 4217 code.")

    @strawberry.field(description='Major units with the currency\'s exponent: "12.34".')
    def formatted(self) -> str:
        """The amount written with its currency's decimal places."""
        return format_amount(self.amount, self.currency)


def money(amount: int, currency: str) -> Money:
    """A Money value."""
    return Money(amount=Long(amount), currency=currency)
