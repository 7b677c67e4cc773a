"""Document limits checked in one pass over each definition, fragments measured once each.

graphql-core's rules and Strawberry's depth and alias limiters walk every path a fragment
spread expands to, so a few hundred bytes of fragments that each spread the next one twice
cost 2^n steps. Here each fragment is measured once and its totals are remembered (Python
integers: 2^150 fields is a number, not a walk), so a document is measured in time linear in
its size. A document over a limit is refused before any graphql-core rule sees it (see
graph/extensions/validation.py). Written here because no maintained package measures documents
this way.

Measured, fragments expanded: fields per operation and per fragment (`GRAPHQL_MAX_FIELDS`), how
often one response key is selected in one selection set (`GRAPHQL_MAX_FIELD_REPEATS`: the
pairwise field comparison of the spec's overlap rule is quadratic in it), depth
(`GRAPHQL_MAX_DEPTH`, counted like Strawberry's limiter: introspection fields are not, nor
`ofType`, the introspection wrapper chain that tools' standard queries nest nine deep; the
schema has no field of that name, and a cycle through `fields` and `type` still counts), aliases
(`GRAPHQL_MAX_ALIASES`, summed over operations) and root fields of a mutation
(`GRAPHQL_MAX_ROOT_MUTATION_FIELDS`); and at most ten directives on one selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

NESTED_TOO_DEEPLY = "Document is nested too deeply."
MAX_DIRECTIVES = 10  # per field or fragment; the schema's directives are @skip and @include
UNCOUNTED_DEPTH = frozenset({"ofType"})
"""Introspection fields without the `__` prefix that add no depth: `__Type.ofType` only wraps
(list, non-null) and cannot fan out; no type of LedgerQL's schema has a field of this name."""


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The bounds a document must keep to before it is validated."""

    max_fields: int
    max_field_repeats: int
    max_depth: int
    max_aliases: int
    max_root_mutation_fields: int


class Entry:
    """The fields that merge into one entry of the response: how many, and the entries below."""

    __slots__ = ("below", "count")

    def __init__(self) -> None:
        self.count = 0
        self.below: dict[str, Entry] = {}


def merge(into: dict[str, Entry], other: dict[str, Entry]) -> None:
    """Add `other`'s entries into `into` (copying: a fragment's own entries stay as they are)."""
    for key, entry in other.items():
        target = into.get(key)
        if target is None:
            target = into[key] = Entry()
        target.count += entry.count
        merge(target.below, entry.below)


def most_merged(entries: dict[str, Entry]) -> tuple[str, int]:
    """The response path into which most fields merge, and how many."""
    worst, most = "", 0
    pending = list(entries.items())
    while pending:
        path, entry = pending.pop()
        if entry.count > most:
            worst, most = path, entry.count
        pending.extend((f"{path}.{key}", below) for key, below in entry.below.items())
    return worst, most


@dataclass(slots=True)
class Measure:
    """Totals of one selection set with its fragments expanded."""

    fields: int = 0
    aliases: int = 0
    depth: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, other: Measure) -> None:
        """Merge a fragment's totals into this selection set's."""
        self.fields += other.fields
        self.aliases += other.aliases
        self.depth = max(self.depth, other.depth)
        merge(self.entries, other.entries)


class DocumentTooLarge(Exception):
    """A definition is over a limit; the message says which."""


EMPTY = Measure()


class _Walker:
    """Measures one definition's own selections, looking fragments up in `measured`."""

    def __init__(
        self, limits: DocumentLimits, measured: dict[str, Measure], label: str, depth_name: str
    ) -> None:
        self.limits = limits
        self.measured = measured
        self.label = label
        self.depth_name = depth_name
        self.fields = 0

    def count(self, fields: int) -> None:
        """Add to the definition's running field total; refuse as soon as it is over."""
        self.fields += fields
        if self.fields > self.limits.max_fields:
            msg = (
                f"{self.label} selects more than {self.limits.max_fields} fields once its "
                "fragments are expanded."
            )
            raise DocumentTooLarge(msg)

    def definition(self, selection_set: SelectionSetNode) -> Measure:
        """The totals of a whole definition; refuses one response entry merging too many fields.

        The spec's overlapping-fields rule compares every pair of fields that merge into one
        response entry, so its work grows with the square of that number.
        """
        totals = self.measure(selection_set)
        path, merged = most_merged(totals.entries)
        if merged > self.limits.max_field_repeats:
            msg = (
                f"{self.label} selects '{path}' {merged} times once its fragments are merged. "
                f"Allowed: {self.limits.max_field_repeats}"
            )
            raise DocumentTooLarge(msg)
        return totals

    def measure(self, selection_set: SelectionSetNode) -> Measure:
        """The totals of a selection set."""
        totals = Measure()
        self._collect(selection_set, totals)
        return totals

    def _collect(self, selection_set: SelectionSetNode, totals: Measure) -> None:
        for selection in selection_set.selections:
            if len(selection.directives or ()) > MAX_DIRECTIVES:
                msg = f"{self.label} puts more than {MAX_DIRECTIVES} directives on one selection."
                raise DocumentTooLarge(msg)
            if isinstance(selection, FieldNode):
                self._field(selection, totals)
            elif isinstance(selection, InlineFragmentNode):
                self._collect(selection.selection_set, totals)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.measured.get(selection.name.value, EMPTY)
                self.count(fragment.fields)  # before merging: bounds the merging work
                totals.add(fragment)

    def _field(self, node: FieldNode, totals: Measure) -> None:
        self.count(1)
        totals.fields += 1
        entry = totals.entries.get((node.alias or node.name).value)
        if entry is None:
            entry = totals.entries[(node.alias or node.name).value] = Entry()
        entry.count += 1
        if node.alias:
            totals.aliases += 1
        if node.selection_set is None:
            return
        inner = self.measure(node.selection_set)
        totals.fields += inner.fields
        totals.aliases += inner.aliases
        merge(entry.below, inner.entries)
        if node.name.value.startswith("__") or node.name.value in UNCOUNTED_DEPTH:
            return
        totals.depth = max(totals.depth, 1 + inner.depth)
        if totals.depth > self.limits.max_depth:  # refused now: bounds the depth of entries
            msg = f"{self.depth_name} exceeds maximum operation depth of {self.limits.max_depth}"
            raise DocumentTooLarge(msg)


def _fragment_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names, each after every fragment it spreads (cycles broken anywhere)."""
    order: list[str] = []
    seen: set[str] = set()
    for root, definition in fragments.items():
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(_spreads(definition.selection_set)))]
        while stack:  # iterative depth-first search: a long chain cannot exhaust the stack
            name, pending = stack[-1]
            spread = next(pending, None)
            if spread is None:
                stack.pop()
                order.append(name)
            elif spread in fragments and spread not in seen:
                seen.add(spread)
                stack.append((spread, iter(_spreads(fragments[spread].selection_set))))
    return order


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """Names of the fragments spread anywhere inside a selection set."""
    names: list[str] = []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                pending.append(selection.selection_set)
    return names


def _walker(
    limits: DocumentLimits, measured: dict[str, Measure], operation: OperationDefinitionNode
) -> _Walker:
    """A walker whose messages name the operation (Strawberry's wording for depth)."""
    if operation.name is None:
        return _Walker(limits, measured, "The anonymous operation", "'anonymous'")
    name = operation.name.value
    return _Walker(limits, measured, f"Operation '{name}'", f"'{name}'")


def check_document(document: DocumentNode, limits: DocumentLimits) -> list[str]:
    """Why the document is over a limit (empty when it is within every limit)."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    measured: dict[str, Measure] = {}
    try:
        for name in _fragment_order(fragments):
            label = f"Fragment '{name}'"
            walker = _Walker(limits, measured, label, label)
            measured[name] = walker.definition(fragments[name].selection_set)
        problems: list[str] = []
        aliases = 0
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            totals = _walker(limits, measured, definition).definition(definition.selection_set)
            aliases += totals.aliases
            roots = sum(entry.count for entry in totals.entries.values())
            if (
                definition.operation is OperationType.MUTATION
                and roots > limits.max_root_mutation_fields
            ):
                problems.append(
                    f"{roots} root fields in one mutation. "
                    f"Allowed: {limits.max_root_mutation_fields}"
                )
    except DocumentTooLarge as error:
        return [str(error)]
    except RecursionError:  # pragma: no cover - the parser bounds nesting well below this
        return [NESTED_TOO_DEEPLY]
    if aliases > limits.max_aliases:
        problems.append(f"{aliases} aliases found. Allowed: {limits.max_aliases}")
    return problems
