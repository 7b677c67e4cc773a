"""Generated hostile documents: fragment, alias, directive and overlapping-field bombs.

Each generator makes the largest document of its kind that still fits the default token limit
(2,000), so the server's refusal is checked where the attack is worst. Shared by
tests.api.test_document_bombs.py and bench/bombs.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from graphql import GraphQLSyntaxError, parse

MAX_TOKENS = 2000


def fits(document: str, max_tokens: int = MAX_TOKENS) -> bool:
    """Whether the document parses within the token limit."""
    try:
        parse(document, max_tokens=max_tokens)
    except GraphQLSyntaxError:
        return False
    return True


@cache  # a binary search of parses: worth doing once per generator, not once per test
def largest(make: Callable[[int], str]) -> str:
    """`make(n)` for the largest n whose document still fits the token limit."""
    low, high = 1, 2
    while fits(make(high)):
        low, high = high, high * 2
    while high - low > 1:  # fits(make(low)) and not fits(make(high))
        middle = (low + high) // 2
        low, high = (middle, high) if fits(make(middle)) else (low, middle)
    return make(low)


def doubling_fragments(count: int, leaf: str = "__typename", on: str = "Query") -> str:
    """Each fragment spreads the next one twice: 2^count fields once expanded."""
    chain = " ".join(f"fragment F{n} on {on} {{ ...F{n + 1} ...F{n + 1} }}" for n in range(count))
    return f"{chain} fragment F{count} on {on} {{ {leaf} }}"


def fragment_bomb(count: int) -> str:
    """The anonymous query of the attack run: `{ ...F0 }` over `count` doubling fragments."""
    return "{ ...F0 } " + doubling_fragments(count)


def aliased_fragment_bomb(count: int) -> str:
    """Doubling fragments that each add an aliased field: aliases double too."""
    chain = " ".join(
        f"fragment F{n} on Query {{ a{n}: __typename ...F{n + 1} ...F{n + 1} }}"
        for n in range(count)
    )
    return f"{{ ...F0 }} {chain} fragment F{count} on Query {{ __typename }}"


def nested_fragment_bomb(count: int) -> str:
    """Doubling fragments one object level apart: wide and deep at once."""
    chain = " ".join(
        f"fragment U{n} on User {{ id accountHolder {{ user {{ ...U{n + 1} ...U{n + 1} }} }} }}"
        for n in range(count)
    )
    return f"{{ me {{ ...U0 }} }} {chain} fragment U{count} on User {{ id }}"


def mutation_fragment_bomb(count: int) -> str:
    """Doubling fragments on the mutation root: root fields double."""
    return "mutation { ...F0 } " + doubling_fragments(
        count, leaf="logout { revokedSessions }", on="Mutation"
    )


def same_field(count: int) -> str:
    """One object field selected `count` times in one selection set."""
    return "{ " + "health { status } " * count + "}"


def same_alias(count: int) -> str:
    """`count` fields under one alias: graphql-core compares every pair."""
    return "{ " + "a: health { status } " * count + "}"


def conflicting_aliases(count: int) -> str:
    """One alias over two different fields, alternately: every pair conflicts."""
    fields = ("a: health { status }", "a: me { id }")
    return "{ " + " ".join(fields[n % 2] for n in range(count)) + " }"


def distinct_aliases(count: int) -> str:
    """`count` aliases of one field under distinct names."""
    return "{ " + " ".join(f"a{n}: health {{ status }}" for n in range(count)) + " }"


def overlapping_fragments(count: int) -> str:
    """`count` fragments that each select the same object field at the same level."""
    spreads = " ".join(f"...F{n}" for n in range(count))
    fragments = " ".join(f"fragment F{n} on Query {{ health {{ status }} }}" for n in range(count))
    return f"{{ {spreads} }} {fragments}"


def overlapping_inline_fragments(count: int) -> str:
    """`count` inline fragments that each select the same object field."""
    return "{ " + "... on Query { health { status } } " * count + "}"


def repeated_spreads(count: int) -> str:
    """One fragment spread `count` times in one selection set."""
    return "{ " + "...F " * count + "} fragment F on Query { health { status } }"


def repeated_directives(count: int) -> str:
    """One non-repeatable directive written `count` times on one field."""
    return "{ health " + "@include(if: true) " * count + "{ status } }"


def directives_everywhere(count: int) -> str:
    """`count` fields, each with the same directive twice."""
    return "{ " + "health @skip(if: false) @skip(if: false) { status } " * count + "}"


BOMBS: dict[str, Callable[[int], str]] = {
    "fragment-doubling": fragment_bomb,
    "aliased-fragment-doubling": aliased_fragment_bomb,
    "nested-fragment-doubling": nested_fragment_bomb,
    "mutation-fragment-doubling": mutation_fragment_bomb,
    "same-field": same_field,
    "same-alias": same_alias,
    "conflicting-aliases": conflicting_aliases,
    "distinct-aliases": distinct_aliases,
    "overlapping-fragments": overlapping_fragments,
    "overlapping-inline-fragments": overlapping_inline_fragments,
    "repeated-spreads": repeated_spreads,
    "repeated-directives": repeated_directives,
    "directives-everywhere": directives_everywhere,
}


def bombs() -> dict[str, str]:
    """Every bomb at the largest size the token limit lets through."""
    return {name: largest(make) for name, make in BOMBS.items()}
