"""Query cost: a static cost per operation, a maximum per request and a refilling budget per caller.

Cost model (computed from the validated document before anything executes): every field that
returns an object costs 1, scalars cost nothing, a field with `first` (or a connection without
it, at the default page size) multiplies what is below it by that size, and each root mutation
field costs `MUTATION_WEIGHT`. An operation over `GRAPHQL_MAX_COST` is refused with BAD_REQUEST;
otherwise its cost is taken from the caller's budget (`GRAPHQL_COST_BUDGET` points per window, per
user, per client address when anonymous), kept in each instance's memory: charging it costs no
database round trip, and with N instances a caller may spend up to N budgets. An empty budget
refuses with RATE_LIMITED, subscriptions included. Every response says what the request cost
in `extensions.cost`.

Written here because Strawberry has no cost analysis and no maintained Python package fits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from db.errors import AppError, BadRequest, RateLimited, Unavailable
from db.rate_limits import Decision, Limit
from db.repositories.pages import DEFAULT_PAGE_SIZE
from graph.context import Context

MUTATION_WEIGHT = 10


class _Costing:
    """Walks one operation's selections with its fragments and variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode
    ) -> Iterator[tuple[GraphQLNamedType, FieldNode]]:
        """Every field selected on `parent`, through fragments, with the type it is selected on."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield parent, selection
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                condition: NamedTypeNode | None = fragment.type_condition
                inner = fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            else:  # pragma: no cover - graphql-core has no other selection kind
                continue
            on = self.schema.get_type(condition.name.value) if condition else parent
            yield from self.selections(on or parent, inner)

    def of_set(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        """The cost of a selection set on `parent`."""
        return sum(self.of_field(on, field) for on, field in self.selections(parent, selection_set))

    def of_field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        """1 per object field, times the page size of a list below it; scalars are free."""
        definition = self._definition(parent, node.name.value)
        if definition is None or node.selection_set is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        return 1 + self._page_size(node, named) * self.of_set(named, node.selection_set)

    def _definition(self, parent: GraphQLNamedType, name: str) -> Any:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return fields.get(name) if fields else None

    def _page_size(self, node: FieldNode, named: GraphQLNamedType) -> int:
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, int(value.value))
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(1, given)
        return DEFAULT_PAGE_SIZE if named.name.endswith("Connection") else 1


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    """The static cost of one operation of a validated document."""
    costing = _Costing(schema, fragments, variables)
    root: GraphQLObjectType | None = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    cost = 0
    for on, field in costing.selections(root, operation.selection_set):
        cost += costing.of_field(on, field)
        if operation.operation is OperationType.MUTATION:
            cost += MUTATION_WEIGHT
    return cost


class QueryCostExtension(SchemaExtension):
    """Refuses operations over the maximum cost or the caller's budget before they execute."""

    cost: int | None = None
    decision: Decision | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        """Compute the cost, charge the budget, and refuse before execution if either is spent."""
        try:
            await self._charge()
        except AppError as error:
            refusal = GraphQLError(error.message, original_error=error)
            if self.execution_context.operation_type is StrawberryOperationType.SUBSCRIPTION:
                raise refusal from None  # Strawberry's subscribe path ignores a pre-set result
            self.execution_context.result = ExecutionResult(data=None, errors=[refusal])
        yield

    async def _charge(self) -> None:
        context = self.execution_context.context
        document = self.execution_context.graphql_document
        if not isinstance(context, Context) or document is None:  # pragma: no cover
            return
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        operations = [
            definition
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
            and (
                self.execution_context.operation_name is None
                or (
                    definition.name
                    and definition.name.value == self.execution_context.operation_name
                )
            )
        ]
        if len(operations) != 1:
            return  # graphql-core reports the missing or ambiguous operation itself
        schema = self.execution_context.schema._schema
        self.cost = operation_cost(
            schema, operations[0], fragments, self.execution_context.variables or {}
        )
        settings = context.settings
        if self.cost > settings.graphql_max_cost:
            msg = f"Query cost {self.cost} exceeds the maximum of {settings.graphql_max_cost}."
            raise BadRequest(msg)
        self.decision = await context.cost_budgets.hit(
            f"cost:{await self._caller(context)}", Limit.parse(settings.graphql_cost_budget),
            cost=max(self.cost, 1),
        )  # fmt: skip
        if not self.decision.allowed:
            msg = f"The query cost budget is spent; it refills in {self.decision.retry_after}s."
            raise RateLimited(self.decision.retry_after, msg)

    async def _caller(self, context: Context) -> str:
        try:
            principal = await context.principal()
        except Unavailable:
            raise  # the database is down: refuse now rather than wait for it again
        except AppError:  # a bad token fails in the resolvers; budget it as anonymous
            principal = None
        if principal is not None:
            return f"user:{principal.user_id}"
        return "ip:" + (context.device().ip_address or "unknown")

    def get_results(self) -> dict[str, Any]:
        """`extensions.cost`: requested cost, remaining budget and when it refills."""
        if self.cost is None:
            return {}
        summary: dict[str, Any] = {"requested": self.cost}
        if self.decision is not None:
            summary["remaining"] = self.decision.remaining
            summary["resetAt"] = self.decision.resets_at.isoformat().replace("+00:00", "Z")
        return {"cost": summary}
