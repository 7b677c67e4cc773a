"""Status machines shared by accounts and cards: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping, Set
from enum import StrEnum
from typing import Protocol, TypeVar

from db.errors import Conflict
from db.unit_of_work import Transaction

StatusT = TypeVar("StatusT", bound=StrEnum)


class HasStatus(Protocol):
    """A row with a status column (accounts, cards)."""

    status: str


async def change_status(
    session: Transaction,
    row: HasStatus,
    allowed_from: Mapping[StatusT, Set[StatusT]],
    target: StatusT,
    *,
    noun: str,
    field: str,
) -> None:
    """Move `row` to `target`, or CONFLICT unless `target` may follow its status (then flush).

    `allowed_from` maps each target status to the statuses it may be reached from.
    """
    current = type(target)(row.status)
    if current not in allowed_from[target]:
        msg = f"A {current.value.lower()} {noun} cannot become {target.value.lower()}."
        raise Conflict(msg, field=field)
    row.status = target.value
    await session.flush()
