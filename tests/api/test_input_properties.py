"""Property: no input makes the server fail. Every root Query and Mutation field, called by a
signed-in user (and by an admin) with generated variables, answers without HTTP 5xx and without
INTERNAL.

Variables follow each argument's GraphQL type most of the time (so they get past coercion and
reach the resolvers), with hostile leaves: unpaired surrogates, NUL, very long strings, huge and
non-finite numbers, absurd dates; sometimes a whole value is arbitrary JSON instead. Every
example calls every operation once. `logout` is left out: it would end the caller's session and
leave the remaining operations nothing to reach but UNAUTHENTICATED. A failure is reported as
generated, without shrinking (each example runs dozens of requests).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from db.session import Database
from graph.schema import build_schema
from tests.support.identity import SignedIn, signed_in_with_role
from tests.support.money import create_holder, open_account

EXAMPLES = 30
PROPERTY = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEFT_OUT = frozenset({"logout"})
LONGEST_STRING = 100_000  # a few of these stay well within the 1 MiB body limit

HOSTILE_CHARACTERS = st.one_of(
    st.characters(),
    st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600", "\u202e", "'", '"', "\\", "%"]),
)
TEXT = st.one_of(
    st.text(HOSTILE_CHARACTERS, max_size=40),
    st.sampled_from(["", "EUR", "admin", "user", "2026-01-01", "a" * 300]),
    st.integers(1, LONGEST_STRING).map(lambda size: "x" * size),
)
HUGE_INTEGERS = st.one_of(
    st.integers(-(2**64), 2**64), st.integers(-(10**4000), 10**4000), st.sampled_from([0, -1, 1])
)
NUMBERS = st.one_of(HUGE_INTEGERS, st.floats(allow_nan=True, allow_infinity=True))
DATES = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "99999-01-01", "-0001-01-01"]),
    TEXT,
)
ABSURD_INSTANTS = [
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z",
]  # fmt: skip
DATE_TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(ABSURD_INSTANTS),
    TEXT,
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "String": TEXT,
    "ID": TEXT,
    "Int": NUMBERS,
    "Float": NUMBERS,
    "Long": NUMBERS,
    "Boolean": st.booleans(),
    "Date": DATES,
    "DateTime": DATE_TIMES,
}


def input_values(kind: GraphQLInputType) -> st.SearchStrategy[Any]:
    """Values shaped like `kind` with hostile leaves; one time in ten any JSON at all."""
    return st.one_of(*[_shaped(kind)] * 9, ANY_JSON)


def _shaped(kind: GraphQLInputType) -> st.SearchStrategy[Any]:
    if isinstance(kind, GraphQLNonNull):
        return input_values(kind.of_type)
    if isinstance(kind, GraphQLList):
        return st.lists(input_values(kind.of_type), max_size=3)
    if isinstance(kind, GraphQLEnumType):
        return st.one_of(st.sampled_from(sorted(kind.values)), TEXT)
    if isinstance(kind, GraphQLScalarType):
        return SCALARS[kind.name]
    assert isinstance(kind, GraphQLInputObjectType), kind
    fields = {name: input_values(field.type) for name, field in kind.fields.items()}
    required = {
        name for name, field in kind.fields.items()
        if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
    }  # fmt: skip
    return st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: value for name, value in fields.items() if name not in required},
    )


@dataclass(frozen=True)
class Operation:
    """One root field called with every argument passed as a variable."""

    name: str
    document: str
    variables: Callable[[], st.SearchStrategy[dict[str, Any]]]


def operation(kind: str, name: str, field: GraphQLField) -> Operation:
    """The document calling root field `name` of `kind` (query or mutation) with variables."""
    declared = ", ".join(f"${arg}: {value.type}" for arg, value in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    header = f"{kind} Fuzz{name[0].upper()}{name[1:]}" + (f"({declared})" if declared else "")
    call = name + (f"({passed})" if passed else "")
    arguments = {arg: input_values(value.type) for arg, value in field.args.items()}
    return Operation(
        name=name,
        document=f"{header} {{ {call}{selection} }}",
        variables=lambda: st.fixed_dictionaries(arguments),
    )


def every_operation(schema: GraphQLSchema) -> list[Operation]:
    """Every root Query and Mutation field but those LEFT_OUT."""
    roots: list[tuple[str, GraphQLObjectType | None]] = [
        ("query", schema.query_type), ("mutation", schema.mutation_type),
    ]  # fmt: skip
    return [
        operation(kind, name, field)
        for kind, root in roots
        if root is not None
        for name, field in root.fields.items()
        if name not in LEFT_OUT
    ]


def server_failures(response: httpx.Response) -> list[Any]:
    """What in a response shows the server itself failing: a 5xx, or INTERNAL / 5xx errors."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:300]}"]
    errors = response.json().get("errors") or []
    return [
        error
        for error in errors
        if error["extensions"]["code"] == "INTERNAL" or error["extensions"]["status"] >= 500
    ]


@pytest.fixture(params=["user", "admin"])
async def caller(
    client: httpx.AsyncClient, database: Database, request: pytest.FixtureRequest
) -> SignedIn:
    """A signed-in user (or admin, whose operations reach further) with a holder and an account."""
    user = await signed_in_with_role(client, database, "fuzzer", str(request.param))
    await create_holder(client, user)
    await open_account(client, user, "EUR")
    return user


@PROPERTY
@given(data=st.data())
async def test_no_input_to_any_operation_makes_the_server_fail(
    client: httpx.AsyncClient, app: Starlette, caller: SignedIn, data: st.DataObject
) -> None:
    schema = build_schema(app.state.settings)._schema
    operations = every_operation(schema)
    assert {op.name for op in operations} >= {"me", "statement", "login", "deposit", "transfer"}
    failures = []
    for op in operations:
        variables = data.draw(op.variables(), label=op.name)
        body = json.dumps({"query": op.document, "variables": variables})  # ASCII: keeps \ud800
        response = await client.post(
            "/graphql",
            content=body,
            headers={"content-type": "application/json", **caller.headers},
        )
        found = server_failures(response)
        if found:
            failures.append((op.name, body[:500], found))
    assert failures == []
