"""Query cost: a static cost per operation, a maximum per request and a refilling budget per caller.

Cost model (computed from the validated document before anything executes): every field that
returns an object costs 1, scalars cost nothing, a field with `first` (or a connection without
it, at the default page size) multiplies what is below it by that size, and each root mutation
field costs `MUTATION_WEIGHT`. An operation over `GRAPHQL_MAX_COST` is refused with BAD_REQUEST;
otherwise its cost is taken from the caller's budget (`GRAPHQL_COST_BUDGET` points per window, per
user, per client address when anonymous), kept in each instance's memory: charging it costs no
database round trip, and with N instances a caller may spend up to N budgets. An empty budget
refuses with RATE_LIMITED, subscriptions included. Every response says what the request cost
in `extensions.cost`. The caller is the one the authentication step resolved just before
(graph/extensions/authentication.py); a refused token pays from its address's budget.

Written here because Strawberry has no cost analysis and no maintained Python package fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
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
from strawberry.types import ExecutionContext

from db.errors import BadRequest, RateLimited
from db.rate_limits import Limit
from db.repositories.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from graph.context import Context, current_scope

MUTATION_WEIGHT = 10
COST_KEY = "cost"
"""The key of the cost summary in the response's `extensions`."""


class _Costing:
    """Costs one operation's selections with its fragments and variables.

    Each fragment is costed once per type it is spread on (memoized), so fragments that
    spread each other many times cost a walk of the document, not of every expanded path.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.costs: dict[tuple[str, str], int] = {}
        self.root_counts: dict[str, int] = {}
        self.bad_page: BadRequest | None = None

    def of_set(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        """The cost of a selection set on `parent`."""
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self.of_field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                on = self._condition(selection.type_condition, parent)
                cost += self.of_set(on, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                cost += self._of_fragment(parent, selection.name.value)
        return cost

    def _of_fragment(self, parent: GraphQLNamedType, name: str) -> int:
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0
        key = (name, parent.name)
        if key not in self.costs:
            self.costs[key] = 0  # a cycle (refused by validation anyway) adds nothing
            on = self._condition(fragment.type_condition, parent)
            self.costs[key] = self.of_set(on, fragment.selection_set)
        return self.costs[key]

    def _condition(
        self, condition: NamedTypeNode | None, parent: GraphQLNamedType
    ) -> GraphQLNamedType:
        on = self.schema.get_type(condition.name.value) if condition else None
        return on or parent

    def root_fields(self, selection_set: SelectionSetNode) -> int:
        """How many fields a root selection set selects, through fragments."""
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += 1
            elif isinstance(selection, InlineFragmentNode):
                count += self.root_fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in self.root_counts:
                    self.root_counts[name] = 0
                    self.root_counts[name] = self.root_fields(fragment.selection_set)
                count += self.root_counts.get(name, 0)
        return count

    def of_field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        """1 per object field, times the page size of a list below it; scalars are free."""
        definition = self._definition(parent, node.name.value)
        size = self._page_size(node, definition)
        if definition is None or node.selection_set is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        if size is None:
            size = DEFAULT_PAGE_SIZE if named.name.endswith("Connection") else 1
        return 1 + size * self.of_set(named, node.selection_set)

    def _definition(self, parent: GraphQLNamedType, name: str) -> Any:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return fields.get(name) if fields else None

    def _page_size(self, node: FieldNode, definition: Any) -> int | None:
        """`first` (at least 1), or None when not given; notes one outside 1..MAX_PAGE_SIZE."""
        for argument in node.arguments or ():
            if argument.name.value != "first" or definition is None:
                continue
            value = argument.value
            given: Any = None
            if isinstance(value, IntValueNode):
                given = int(value.value)
            elif isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
            if isinstance(given, float) and given.is_integer():
                given = int(given)
            if not isinstance(given, int) or isinstance(given, bool):
                return None
            if not 1 <= given <= MAX_PAGE_SIZE and self.bad_page is None:
                msg = f"`first` must be between 1 and {MAX_PAGE_SIZE}"
                self.bad_page = BadRequest(msg, field=["first"])
            return max(1, given)
        return None


def _variables_with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The request's variables, plus the integer defaults of the ones it leaves out."""
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> tuple[int, BadRequest | None]:
    """A validated operation's static cost, and the refusal of a `first` out of bounds if any."""
    costing = _Costing(schema, fragments, _variables_with_defaults(operation, variables))
    root: GraphQLObjectType | None = schema.get_root_type(operation.operation)
    if root is None:
        return 0, None
    cost = costing.of_set(root, operation.selection_set)
    if operation.operation is OperationType.MUTATION:
        cost += MUTATION_WEIGHT * costing.root_fields(operation.selection_set)
    return cost, costing.bad_page


def check_cost(execution_context: ExecutionContext) -> None:
    """Cost the operation (no SQL); BAD_REQUEST over the maximum or with a `first` out of bounds.

    The cost is left in `extensions.cost` for `charge_budget`. A document refused here costs
    the database nothing, not even the caller's authentication.
    """
    context = execution_context.context
    document = execution_context.graphql_document
    if not isinstance(context, Context) or document is None:  # pragma: no cover
        return
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    name = execution_context.operation_name
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (name is None or (definition.name and definition.name.value == name))
    ]
    if len(operations) != 1:
        return  # graphql-core reports the missing or ambiguous operation itself
    schema = execution_context.schema._schema
    cost, bad_page = operation_cost(
        schema, operations[0], fragments, execution_context.variables or {}
    )
    execution_context.extensions_results[COST_KEY] = {"requested": cost}
    maximum = context.settings.graphql_max_cost
    if cost > maximum:
        raise BadRequest(f"Query cost {cost} exceeds the maximum of {maximum}.")
    if bad_page is not None:  # whatever is selected below it, not only `edges`
        raise bad_page


async def charge_budget(execution_context: ExecutionContext) -> None:
    """Take the operation's cost from its caller's budget; RATE_LIMITED once it is spent.

    Runs after authentication, since the budget is the caller's. The summary in
    `extensions.cost` gains the remaining points and the refill time.
    """
    context = execution_context.context
    summary = execution_context.extensions_results.get(COST_KEY)
    if summary is None or not isinstance(context, Context):  # pragma: no cover
        return
    decision = await context.cost_budgets.hit(
        f"cost:{_caller(context)}", Limit.parse(context.settings.graphql_cost_budget),
        cost=max(summary["requested"], 1),
    )  # fmt: skip
    summary["remaining"] = decision.remaining
    summary["resetAt"] = decision.resets_at.isoformat().replace("+00:00", "Z")
    if not decision.allowed:
        msg = f"The query cost budget is spent; it refills in {decision.retry_after}s."
        raise RateLimited(decision.retry_after, msg)


def _caller(context: Context) -> str:
    """Whose budget pays: the authenticated user, else the client address (a refused token too)."""
    principal = current_scope().principal
    if principal is not None:
        return f"user:{principal.user_id}"
    return "ip:" + (context.device().ip_address or "unknown")
