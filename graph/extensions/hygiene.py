r"""Input hygiene: string values no database or encoder can hold are refused before execution.

PostgreSQL text cannot hold NUL (U+0000), and a lone surrogate (U+D800..U+DFFF, which a JSON
`\ud800` escape produces) cannot be encoded as UTF-8 at all, so either would fail deep inside a
resolver or a driver. Every string inside the variables and every string literal of the document
is checked once per operation, before execution (by `DocumentChecks`,
graph/extensions/checks.py); the first offending value is refused as a top-level
VALIDATION_FAILED naming the argument path it was given for (e.g. `input.password`).
GraphQL's lexer already refuses lone surrogates in the document, so literals only need the NUL
check, and only documents that can hold a NUL (a raw one or a `\u` escape) are walked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)

Path = list[str]


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored or encoded, or None when it can."""
    if "\x00" in text:
        return "must not contain NUL characters (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (no unpaired surrogates)"
    return None


def first_unstorable(value: Any, path: Path) -> tuple[Path, str] | None:
    """The path and reason of the first unstorable string inside a JSON value (any depth)."""
    pending: list[tuple[Any, Path]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            reason = unstorable(item)
            if reason is not None:
                return where, reason
        elif isinstance(item, Mapping):
            entries = [(inner, [*where, str(key)]) for key, inner in item.items()]
            pending.extend(reversed(entries))  # a stack: the first key is looked at first
        elif isinstance(item, list):
            pending.extend(reversed([(inner, [*where, str(n)]) for n, inner in enumerate(item)]))
    return None


def _value_leaves(node: ValueNode, path: Path) -> Iterator[tuple[Path, ValueNode]]:
    """Every scalar literal and variable inside a value literal, with its input path."""
    pending: list[tuple[ValueNode, Path]] = [(node, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, ObjectValueNode):
            fields = [(field.value, [*where, field.name.value]) for field in item.fields]
            pending.extend(reversed(fields))
        elif isinstance(item, ListValueNode):
            values = [(inner, [*where, str(n)]) for n, inner in enumerate(item.values)]
            pending.extend(reversed(values))
        else:
            yield where, item


class _ArgumentWalker(Visitor):
    """Collects NUL-holding string literals and where each variable is first used."""

    def __init__(self) -> None:
        super().__init__()
        self.problem: tuple[Path, str] | None = None
        self.in_default: tuple[Path, str] | None = None
        self.variable_paths: dict[str, Path] = {}

    def _walk(self, node: ValueNode, path: Path) -> tuple[Path, str] | None:
        found = None
        for where, leaf in _value_leaves(node, path):
            if isinstance(leaf, VariableNode):
                self.variable_paths.setdefault(leaf.name.value, where)
            elif isinstance(leaf, StringValueNode) and found is None:
                reason = unstorable(leaf.value)
                if reason is not None:
                    found = where, reason
        return found

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        """Walk an argument's value under the argument's name."""
        self.problem = self.problem or self._walk(node.value, [node.name.value])

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        """Walk a variable's default value under the variable's name."""
        if node.default_value is not None:
            found = self._walk(node.default_value, [node.variable.name.value])
            self.in_default = self.in_default or found

    def argument_path(self, variable_path: Path) -> Path:
        """A path inside a variable's value as a path inside the argument it is used for."""
        name, *rest = variable_path
        return [*self.variable_paths.get(name, [name]), *rest]


def unstorable_input(
    document: DocumentNode, query: str, variables: Mapping[str, Any]
) -> tuple[Path, str] | None:
    """The argument path and reason of the first unstorable string in an operation's input.

    Only declared variables count: graphql-core ignores any others.
    """
    declared = {
        definition.variable.name.value
        for operation in document.definitions
        if isinstance(operation, OperationDefinitionNode)
        for definition in operation.variable_definitions or ()
    }
    used = {name: value for name, value in variables.items() if name in declared}
    in_variables = first_unstorable(used, [])
    if in_variables is None and "\x00" not in query and "\\u" not in query:
        return None
    walker = _ArgumentWalker()
    visit(document, walker)
    found = in_variables or walker.in_default
    if found is None:
        return walker.problem
    path, reason = found
    return walker.argument_path(path), reason
