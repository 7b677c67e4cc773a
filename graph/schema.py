"""The Strawberry schema: root types and the extensions every operation runs through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from core.settings import Settings
from graph.audit.queries import AuditQueries
from graph.audit.subscriptions import AuditSubscriptions
from graph.banking.mutations import BankingMutations
from graph.banking.queries import BankingQueries
from graph.errors import UserError
from graph.extensions.cost import QueryCostExtension
from graph.extensions.errors import ResponseMetaExtension, shape_errors
from graph.extensions.hygiene import InputHygiene
from graph.extensions.observe import OperationObserverExtension
from graph.extensions.scope import OperationScopeExtension
from graph.extensions.shape import (
    InputListLimiter,
    list_literal_limiter,
    operations_limiter,
    root_mutation_fields_limiter,
)
from graph.health import Health, resolve_health
from graph.relay import resolve_node
from graph.scalars import SCALAR_MAP
from graph.users.auth_mutations import AuthMutations
from graph.users.mutations import UserMutations
from graph.users.queries import UserQueries


@strawberry.type(description="Read operations.")
class Query(UserQueries, AuditQueries, BankingQueries):
    """The query root."""

    health: Health = strawberry.field(
        resolver=resolve_health, description="Service health; needs no authentication."
    )
    node: relay.Node | None = strawberry.field(
        resolver=resolve_node,
        description="Fetch any object by its global id; null if it does not exist or is hidden.",
    )


@strawberry.type(description="Write operations; each takes one `input` and returns a payload.")
class Mutation(AuthMutations, UserMutations, BankingMutations):
    """The mutation root."""


@strawberry.type(description="Live events over WebSocket (graphql-transport-ws).")
class Subscription(AuditSubscriptions):
    """The subscription root."""


class ReportingParserCache(ParserCache):
    """ParserCache that leaves syntax errors to Strawberry's own parse, which reports them.

    Strawberry's ParserCache raises syntax errors from inside the parse hook, where they skip
    the operation's extensions (no error shaping, no metrics). Invalid documents are not cached
    anyway, so parsing them twice costs nothing that matters.
    """

    def on_parse(self) -> Iterator[None]:
        """Parse through the shared LRU cache; on a syntax error, let Strawberry parse again."""
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield


class LedgerSchema(strawberry.Schema):
    """Strawberry's schema with LedgerQL's scalars and error model."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("config", StrawberryConfig(scalar_map=SCALAR_MAP))
        super().__init__(*args, **kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Shape every error list (instead of Strawberry's logging of each error)."""
        shape_errors(errors, execution_context.operation_name if execution_context else None)


def schema_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories, outermost first.

    The shape rules are built once, so the validation cache (keyed by document and rule
    classes) hits across requests.
    """
    size = settings.graphql_cache_size
    shape_rules: list[type[ASTValidationRule]] = [
        query_depth_limiter.create_validator(settings.graphql_max_depth, should_ignore=None),
        max_aliases.create_validator(settings.graphql_max_aliases),
        operations_limiter(settings.graphql_max_operations),
        root_mutation_fields_limiter(settings.graphql_max_root_mutation_fields),
        list_literal_limiter(settings.graphql_max_list_items),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationObserverExtension,
        ResponseMetaExtension,
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ReportingParserCache(maxsize=size),
        lambda: AddValidationRules(shape_rules),
        lambda: ValidationCache(maxsize=size),
        lambda: InputListLimiter(max_items=settings.graphql_max_list_items),
        InputHygiene,
        QueryCostExtension,
        OperationScopeExtension,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions


def build_schema(settings: Settings) -> strawberry.Schema:
    """The LedgerQL schema configured from settings."""
    return LedgerSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[UserError],
        extensions=schema_extensions(settings),
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP, disable_field_suggestions=not settings.introspection
        ),
    )
