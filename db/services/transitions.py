"""Status machines shared by accounts and cards: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping, Set
from enum import StrEnum
from typing import TypeVar

from db.errors import Conflict

StatusT = TypeVar("StatusT", bound=StrEnum)


def check_transition(
    allowed_from: Mapping[StatusT, Set[StatusT]],
    current: StatusT,
    target: StatusT,
    *,
    noun: str,
    field: list[str],
) -> None:
    """CONFLICT unless `target` may follow `current` (`allowed_from`: target -> sources)."""
    if current not in allowed_from[target]:
        msg = f"A {current.value.lower()} {noun} cannot become {target.value.lower()}."
        raise Conflict(msg, field=field)
