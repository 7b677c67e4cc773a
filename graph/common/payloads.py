"""Running a mutation: one unit of work, committed once, and business failures as `errors`.

`run_mutation` is the one place a mutation's write transaction is opened and committed: the
service it runs flushes and never commits, the audit rows of the change (and those the
operation queued so far) are appended in the same transaction, and a business failure rolls
everything back and comes back in the payload's `errors`, with field names turned into the
paths of the `input` fields the client sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from db.errors import AppError, BusinessRuleError, InputErrors
from db.unit_of_work import Transaction
from graph.context import Context, current_scope
from graph.errors import ErrorCode, field_path

ResultT = TypeVar("ResultT")


@strawberry.type(description="A business-rule failure returned in a mutation payload.")
class UserError:
    """One reason a mutation changed nothing; `field` is the path to the offending input."""

    code: ErrorCode
    message: str
    field: list[str] | None = None

    @classmethod
    def from_exception(cls, error: AppError) -> UserError:
        """The payload form of a domain exception raised by a mutation's use-case."""
        return cls(
            code=ErrorCode(error.code),
            message=error.message,
            field=field_path(error.field, under=("input",)),
        )


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


async def in_transaction(
    context: Context, work: Callable[[Transaction], Awaitable[ResultT]]
) -> ResultT:
    """Run `work` in the mutation's one write transaction and return what it returns.

    Committed once when `work` returns, with the audit rows of the change and those the
    operation queued so far (emptied once stored); rolled back when it raises. For mutations
    whose every failure is a top-level error (sign-in, refresh, sign-out); the others use
    `run_mutation`. Cached loader results are dropped afterwards.
    """
    try:
        async with context.uow.write(current_scope().audit_queue) as transaction:
            return await work(transaction)
    finally:
        context.loaders.clear()


async def run_mutation(
    context: Context, work: Callable[[Transaction], Awaitable[ResultT]]
) -> tuple[ResultT | None, list[UserError]]:
    """`in_transaction`, with business failures returned as the payload's `errors`.

    Anything but a business failure propagates to the top-level error model.
    """
    return await attempt(context, in_transaction(context, work))
