"""Mutation payload errors: running a use-case and turning business failures into `errors`."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry

from db.errors import AppError, BusinessRuleError, InputErrors
from graph.context import Context
from graph.errors import ErrorCode

ResultT = TypeVar("ResultT")


@strawberry.type(description="A business-rule failure returned in a mutation payload.")
class UserError:
    """One reason a mutation changed nothing; `field` is the path to the offending input."""

    code: ErrorCode
    message: str
    field: list[str] | None = None

    @classmethod
    def from_exception(cls, error: AppError) -> UserError:
        """The payload form of a domain exception."""
        return cls(code=ErrorCode(error.code), message=error.message, field=error.field)


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
