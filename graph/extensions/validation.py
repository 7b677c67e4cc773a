"""Validation in three steps: the linear document limits, graphql-core's rules, the variables.

Run by `DocumentChecks` (graph/extensions/checks.py) in place of Strawberry's ValidationCache,
so that a document over a limit (fields, field repeats, depth, aliases, root mutation fields:
graph/extensions/measure.py) is refused before the spec's rules run: some of them are quadratic
in the fields one selection set repeats. The first two verdicts are cached per document. The
variables are then coerced as execution will coerce them, so bad variables are refused before
the cost budget or a session lookup runs. With introspection off, graphql-core is asked for
messages without "Did you mean" suggestions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    validate,
)
from graphql.execution.values import get_variable_values
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from graph.extensions.measure import DocumentLimits, check_document

MAX_VARIABLE_ERRORS = 50  # graphql-core's own bound when it coerces variables
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (
    MaybeNullValidationRule,
    OneOfInputValidationRule,
)


def validate_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    limits: DocumentLimits,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """The document's limit violations if any, else the errors of every validation rule."""
    problems = check_document(document, limits)
    if problems:
        return [GraphQLError(problem) for problem in problems]
    return validate(
        schema, document, (*rules, *STRAWBERRY_RULES), hide_suggestions=hide_suggestions
    )


@cache
def validation_cache(maxsize: int) -> Callable[..., list[GraphQLError]]:
    """`validate_document` behind an LRU cache of `maxsize` verdicts, shared by every schema."""
    return lru_cache(maxsize=maxsize)(validate_document)


def validation_errors(
    context: ExecutionContext,
    cached_validate: Callable[..., list[GraphQLError]],
    limits: DocumentLimits,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """The document's limit or rule violations (cached per document), else its variables'."""
    schema = context.schema._schema
    errors = list(
        cached_validate(
            schema, context.graphql_document, context.validation_rules, limits, hide_suggestions
        )
    )
    operation = _operation(context)
    if not errors and operation is not None and operation.variable_definitions:
        coerced = get_variable_values(
            schema, operation.variable_definitions, context.variables or {},
            max_errors=MAX_VARIABLE_ERRORS, hide_suggestions=hide_suggestions,
        )  # fmt: skip
        if isinstance(coerced, list):
            errors = coerced
    return errors


def _operation(context: ExecutionContext) -> OperationDefinitionNode | None:
    document = context.graphql_document
    name = context.operation_name
    operations = (
        definition
        for definition in (document.definitions if document else ())
        if isinstance(definition, OperationDefinitionNode)
        and (name is None or (definition.name is not None and definition.name.value == name))
    )
    return next(operations, None)
