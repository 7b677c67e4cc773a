"""Document shape limits Strawberry lacks: operations and input list sizes.

Tokens use Strawberry's own limiter (graph/schema.py); fields, depth, aliases and root mutation
fields are measured before validation (graph/extensions/measure.py). These two are
graphql-core validation rules, so a refused document never executes and its verdict is cached
with the document. Variables are not part of the document, so `DocumentChecks`
(graph/extensions/checks.py) checks their lists with `longest_list` right after validation.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLError,
    ListValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
)


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
