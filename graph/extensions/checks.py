"""Every check of a document and its input before execution, in one extension.

Strawberry runs each hook of each extension through a wrapper of its own on every operation, so
the checks share one `DocumentChecks` extension with two hooks that run them in the order they
always had:

- `on_parse`: the token limit (`GRAPHQL_MAX_TOKENS`, enforced by graphql-core's parser) and the
  shared LRU cache of parsed documents. A syntax error is left to Strawberry's own parse, which
  reports it through the operation's extensions (error shaping, metrics); invalid documents are
  not cached anyway, so parsing them twice costs nothing that matters.
- `on_validate`: the document limits and the validation rules, cached per document
  (graph/extensions/validation.py; the shape rules of graph/extensions/shape.py and, with
  introspection off, graphql-core's `NoSchemaIntrospectionCustomRule` join the spec's rules),
  the variables coerced as execution will coerce them, variables holding an oversized list
  (graph/extensions/shape.py), and unstorable strings (graph/extensions/hygiene.py), checked
  only when everything before passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache

from db.errors import ValidationFailed
from graph.extensions.hygiene import unstorable_input
from graph.extensions.measure import DocumentLimits
from graph.extensions.shape import list_literal_limiter, longest_list, operations_limiter
from graph.extensions.validation import validation_cache, validation_errors


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """What `DocumentChecks` enforces, built once per schema."""

    max_tokens: int
    max_operations: int
    max_list_items: int
    limits: DocumentLimits
    cache_size: int
    introspection: bool

    def rules(self) -> tuple[type[ASTValidationRule], ...]:
        """The validation rules added to the spec's (built once: they key the verdict cache)."""
        rules: list[type[ASTValidationRule]] = [
            operations_limiter(self.max_operations),
            list_literal_limiter(self.max_list_items),
        ]
        if not self.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        return tuple(rules)


class DocumentChecks(ParserCache):
    """Token limit and cached parse, then limits, rules, variables and input hygiene."""

    def __init__(self, settings: CheckSettings, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__(maxsize=settings.cache_size)
        self.settings = settings
        self.rules = rules
        self.cached_validate: Callable[..., Any] = validation_cache(settings.cache_size)

    def on_parse(self) -> Iterator[None]:
        """Parse under the token limit through the shared cache; syntax errors: see the module."""
        context = self.execution_context
        context.parse_options["max_tokens"] = self.settings.max_tokens
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield

    def on_validate(self) -> Iterator[None]:
        """Set every pre-execution error, so Strawberry does not validate again."""
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self.rules)
        errors = validation_errors(
            context, self.cached_validate, self.settings.limits, not self.settings.introspection
        )
        max_items = self.settings.max_list_items
        longest = longest_list(context.variables or {})
        if longest > max_items:
            message = f"A list of {longest} items was given. Allowed: {max_items}"
            errors.append(GraphQLError(message))
        if context.graphql_document is not None and not errors:
            found = unstorable_input(
                context.graphql_document, context.query or "", context.variables or {}
            )
            if found is not None:
                path, reason = found
                message = f"`{'.'.join(path)}` {reason}."
                refused = ValidationFailed(message, field=path)
                errors = [GraphQLError(message, original_error=refused)]
        context.pre_execution_errors = errors
        yield
