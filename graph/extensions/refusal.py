"""Refusing a whole operation from an extension, before it executes."""

from __future__ import annotations

from graphql import ExecutionResult, GraphQLError
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from db.errors import AppError


def refuse_operation(execution_context: ExecutionContext, error: AppError) -> None:
    """Make `error` the operation's only result, so nothing executes.

    A subscription is refused by raising: Strawberry's subscribe path ignores a pre-set result.
    """
    refusal = GraphQLError(error.message, original_error=error)
    if execution_context.operation_type is OperationType.SUBSCRIPTION:
        raise refusal from None
    execution_context.result = ExecutionResult(data=None, errors=[refusal])
