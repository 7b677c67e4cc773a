"""The Strawberry schema: root types and the extensions every operation runs through."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
)
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType

from core.settings import Settings
from graph.accounts.mutations import AccountMutations
from graph.accounts.queries import AccountQueries
from graph.audit.ledger_check import LedgerCheckQueries
from graph.audit.queries import AuditQueries
from graph.audit.subscriptions import AuditSubscriptions
from graph.cards.mutations import CardMutations
from graph.cards.queries import CardQueries
from graph.common.connections import resolve_node
from graph.common.payloads import UserError
from graph.common.renders import SharingExecutor
from graph.errors import MULTIPLE_OPERATIONS, AmbiguousOperationError
from graph.extensions.checks import CheckSettings, DocumentChecks
from graph.extensions.errors import shape_errors
from graph.extensions.gate import OperationGate
from graph.extensions.measure import DocumentLimits
from graph.extensions.observe import OperationObserver
from graph.extensions.response_cache import ResponseCaching
from graph.extensions.scope import OperationScopeExtension
from graph.health import Health, resolve_health
from graph.identity.mutations import IdentityMutations
from graph.identity.queries import IdentityQueries
from graph.ledger.mutations import LedgerMutations
from graph.ledger.queries import LedgerQueries
from graph.response_cache import DocumentVerdicts, ResponseCache
from graph.scalars import SCALAR_MAP
from graph.statements.queries import StatementQueries


@strawberry.type(description="Read operations.")
class Query(
    IdentityQueries,
    AuditQueries,
    LedgerCheckQueries,
    AccountQueries,
    CardQueries,
    LedgerQueries,
    StatementQueries,
):
    """The query root."""

    health: Health = strawberry.field(
        resolver=resolve_health, description="Service health; needs no authentication."
    )
    node: relay.Node | None = strawberry.field(
        resolver=resolve_node,
        description="Fetch any object by its global id; null if it does not exist or is hidden.",
    )


@strawberry.type(description="Write operations; each takes one `input` and returns a payload.")
class Mutation(IdentityMutations, AccountMutations, LedgerMutations, CardMutations):
    """The mutation root."""


@strawberry.type(description="Live events over WebSocket (graphql-transport-ws).")
class Subscription(AuditSubscriptions):
    """The subscription root."""


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class LedgerExecutionContext(ExecutionContext):
    """An execution context that never picks the first of several operations by itself.

    Strawberry runs the first operation when no `operationName` is given; the GraphQL spec
    (GetOperation) and GraphQL-over-HTTP say such a request fails. Strawberry turns the
    error into HTTP 400 (and a WebSocket error) before anything is validated or executed.
    """

    def _ambiguous(self) -> bool:
        document = self.graphql_document
        if self._provided_operation_name is not None or document is None:
            return False
        operations = (d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        return next(operations, None) is not None and next(operations, None) is not None

    @property
    def operation_name(self) -> str | None:
        """The requested operation's name; None when several operations are unnamed."""
        return None if self._ambiguous() else super().operation_name

    @property
    def operation_type(self) -> OperationType:
        """The requested operation's type; refuses a document with several and no name."""
        if self._ambiguous():
            raise AmbiguousOperationError(MULTIPLE_OPERATIONS)
        return super().operation_type


class LedgerSchema(strawberry.Schema):
    """Strawberry's schema with LedgerQL's scalars and error model."""

    def __init__(self, *args: Any, hide_suggestions: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("config", StrawberryConfig(scalar_map=SCALAR_MAP))
        kwargs.setdefault("execution_context_class", SharingExecutor)
        super().__init__(*args, **kwargs)
        self.hide_suggestions = hide_suggestions
        self.plain_fields = use_default_resolvers(self._schema, self.config)

    def _create_execution_context(  # noqa: PLR0917 - Strawberry's signature
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        return LedgerExecutionContext(
            query=query, schema=self, allowed_operations=allowed_operation_types,
            context=context_value, root_value=root_value, variables=variable_values,
            provided_operation_name=operation_name, operation_extensions=operation_extensions,
        )  # fmt: skip

    async def execute(  # noqa: PLR0917 - Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's execution of a query or mutation; never of a subscription.

        Strawberry lets GET and POST carry a subscription (for multipart streaming, which is off
        here) and would then run it like a query, failing with INTERNAL: it is a bad request
        instead (400). Subscriptions run over the WebSocket, through `subscribe`.
        """
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query, variable_values, context_value, root_value, operation_name,
            allowed - {OperationType.SUBSCRIPTION}, operation_extensions,
        )  # fmt: skip

    def _get_execute_function(self) -> Callable[..., Any]:
        """graphql-core's execute, without suggestions in variable errors when they are off."""
        execute = super()._get_execute_function()
        return partial(execute, hide_suggestions=True) if self.hide_suggestions else execute

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Shape every error list (instead of Strawberry's logging of each error).

        With suggestions off, any "Did you mean" left (e.g. by the subscription path, which
        cannot be told to hide them) is cut from the message too.
        """
        if self.hide_suggestions:
            for index, error in enumerate(errors):
                if "Did you mean" in error.message:
                    errors[index] = _without_suggestions(error)
        shape_errors(errors, execution_context.operation_name if execution_context else None)


def use_default_resolvers(schema: GraphQLSchema, config: StrawberryConfig) -> list[str]:
    """Give plain data fields graphql-core's default resolver; returns them as `Type.field`.

    Strawberry wraps every field without a resolver in `_get_basic_result`, which reads the
    attribute through `StrawberryField.get_result` and the config's `default_resolver`: two
    Python calls per field and row more than graphql-core's own default resolver (which reads
    the attribute named like the GraphQL field). So a field with no resolver, no extension and
    no exception handler whose Python name is its GraphQL name drops the wrapper; `createdAt`
    (Python `created_at`) keeps it.
    """
    if config.default_resolver is not getattr:
        return []
    plain: list[str] = []
    for type_name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for name, field in graphql_type.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if (
                isinstance(definition, StrawberryField)
                and getattr(field.resolve, "__name__", None) == "_get_basic_result"
                and definition.is_basic_field
                and definition.python_name == name
            ):
                field.resolve = None
                plain.append(f"{type_name}.{name}")
    return plain


def _without_suggestions(error: GraphQLError) -> GraphQLError:
    return GraphQLError(
        SUGGESTION.sub("", error.message), nodes=error.nodes, source=error.source,
        positions=error.positions, path=error.path, original_error=error.original_error,
        extensions=error.extensions,
    )  # fmt: skip


def schema_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories, outermost first.

    The operation's bookkeeping (access log, metrics, response extensions) wraps everything;
    then every document check (token limit, cached parse, limits, rules, variables, input
    lists, input hygiene: graph/extensions/checks.py), so a refused document opens no scope.
    Inside the operation scope (which holds the caller), one gate runs, in one hook
    (graph/extensions/gate.py): the static query cost first, so a document refused for its
    cost runs no statement at all; then authentication, the first step that may read the
    database; then the cost budget, which is the caller's; then the response cache, which
    answers a cached query without executing it (graph/response_cache.py). The cache lives as
    long as the schema: one per worker.

    The check settings and rules are built once, so the validation cache (keyed by document
    and rule classes) hits across requests.
    """
    checks = CheckSettings(
        max_tokens=settings.graphql_max_tokens,
        max_operations=settings.graphql_max_operations,
        max_list_items=settings.graphql_max_list_items,
        limits=DocumentLimits(
            max_fields=settings.graphql_max_fields,
            max_field_repeats=settings.graphql_max_field_repeats,
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_root_mutation_fields=settings.graphql_max_root_mutation_fields,
        ),
        cache_size=settings.graphql_cache_size,
        introspection=settings.introspection,
    )
    rules = checks.rules()
    caching = None
    if settings.response_cache:
        caching = ResponseCaching(
            cache=ResponseCache(settings.response_cache_bytes),
            verdicts=DocumentVerdicts(settings.graphql_cache_size),
        )
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationObserver,
        lambda: DocumentChecks(checks, rules),
        OperationScopeExtension,
        lambda: OperationGate(caching=caching),
    ]
    return extensions


def build_schema(settings: Settings) -> strawberry.Schema:
    """The LedgerQL schema configured from settings."""
    return LedgerSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[UserError],
        extensions=schema_extensions(settings),
        hide_suggestions=not settings.introspection,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP, disable_field_suggestions=not settings.introspection
        ),
    )
