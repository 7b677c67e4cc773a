"""Running a mutation's use-case and turning business failures into payload errors."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from db.errors import BusinessRuleError, InputErrors
from graph.context import Context
from graph.errors import UserError

ResultT = TypeVar("ResultT")


async def attempt(
    context: Context, work: Awaitable[ResultT]
) -> tuple[ResultT | None, list[UserError]]:
    """Await a use-case: its result, or None with the business errors it reported.

    Anything else (authentication, authorization, limits, bugs) propagates to the top-level
    error model. Cached loader results are dropped afterwards, so the payload reads fresh data.
    """
    try:
        result = await work
    except InputErrors as failure:
        return None, [UserError.from_exception(error) for error in failure.errors]
    except BusinessRuleError as failure:
        return None, [UserError.from_exception(failure)]
    finally:
        context.loaders.clear()
    return result, []
