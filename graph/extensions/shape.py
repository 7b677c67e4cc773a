"""Document shape limits Strawberry lacks: operations and input list sizes.

Tokens use Strawberry's own limiter (graph/schema.py); fields, depth, aliases and root mutation
fields are measured before validation (graph/extensions/measure.py). These two are
graphql-core validation rules, so a refused document never executes and its verdict is cached
with the document. Variables are not part of the document, so their lists are checked by
`InputListLimiter` right after validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLError,
    ListValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension


def operations_limiter(max_operations: int) -> type[ValidationRule]:
    """A rule refusing documents that define more than `max_operations` operations."""

    class MaxOperationsRule(ValidationRule):
        """At most `max_operations` operation definitions per document."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            count = sum(
                isinstance(definition, OperationDefinitionNode)
                for definition in context.document.definitions
            )
            if count > max_operations:
                msg = f"{count} operations found in one document. Allowed: {max_operations}"
                context.report_error(GraphQLError(msg))

    return MaxOperationsRule


def list_literal_limiter(max_items: int) -> type[ValidationRule]:
    """A rule refusing list literals with more than `max_items` items."""

    class MaxListItemsRule(ValidationRule):
        """Every list written in the document has at most `max_items` items."""

        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            """Report a list literal that is too long."""
            if len(node.values) > max_items:
                msg = f"A list of {len(node.values)} items was given. Allowed: {max_items}"
                self.report_error(GraphQLError(msg, node))

    return MaxListItemsRule


def longest_list(value: Any) -> int:
    """The length of the longest list anywhere inside a JSON value (iterative: any depth)."""
    longest, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
    return longest


class InputListLimiter(SchemaExtension):
    """Refuses variables holding a list longer than the limit, before execution."""

    def __init__(self, *, max_items: int) -> None:
        self.max_items = max_items

    def on_validate(self) -> Iterator[None]:
        """Add a validation error when a variable's value holds an oversized list."""
        context = self.execution_context
        longest = longest_list(context.variables or {})
        if longest > self.max_items:
            msg = f"A list of {longest} items was given. Allowed: {self.max_items}"
            context.pre_execution_errors = [
                *(context.pre_execution_errors or []),
                GraphQLError(msg),
            ]
        yield
