"""Hostile documents and variables: ambiguous operations, page sizes, suggestions, echoed inputs.

Every refusal runs no SQL and changes nothing, on both backends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, parse
from starlette.applications import Starlette

from graph.errors import MULTIPLE_OPERATIONS
from graph.extensions.cost import operation_cost
from graph.schema import build_schema
from tests.conftest import make_settings
from tests.support.apps import PRODUCTION, app_with, code_of, refused_without_sql
from tests.support.identity import LOGIN, gql, register, signed_in
from tests.support.money import create_holder, open_account
from tests.support.queries import count_statements
from tests.support.ws import bearer, init, live_app, receive, subscribe

SECRET_PASSWORD = "Sup3r-Secret-Passw0rd!"  # a value that must never be echoed
TWO_OPERATIONS = (
    'mutation Register { register(input: {username: "mallory", email: "m@example.com", '
    'password: "Corr3ct-Horse!Battery"}) { user { id } } } '
    "query Health { health { status } }"
)
PREFLIGHTED = {"graphql-require-preflight": "1"}


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_several_operations_without_an_operation_name_run_nothing(
    client: httpx.AsyncClient, app: Starlette, method: str
) -> None:
    documents = [TWO_OPERATIONS, "query A { health { status } } query B { __typename }"]
    if method == "GET":  # a mutation listed first would be 405; the ambiguity is checked first
        documents = [f"query B {{ __typename }} {TWO_OPERATIONS}", documents[1]]
    for document in documents:
        with count_statements(app.state.database.engine) as counter:
            if method == "POST":
                response = await client.post("/graphql", json={"query": document})
            else:
                response = await client.get(
                    "/graphql", params={"query": document}, headers=PREFLIGHTED
                )
        assert counter.count == 0, counter.statements
        body = response.json()
        assert code_of(body) == "BAD_REQUEST"
        assert body["errors"][0]["message"] == MULTIPLE_OPERATIONS
        assert "data" not in body
        graphql_response = await client.post(
            "/graphql",
            json={"query": document},
            headers={"accept": "application/graphql-response+json"},
        )
        assert graphql_response.status_code == 400
    assert (await register(client, "mallory"))["errors"] == []  # the mutation never ran
    named = await client.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "Health"})
    assert named.json()["data"] == {"health": {"status": "OK"}}


PAGE_BOUND = "`first` must be between 1 and 100"
OUT_OF_RANGE_PAGES = [
    "{ me { accounts(first: 100000) { totalCount } } }",
    "{ me { accounts(first: 0) { totalCount } } }",
    "{ me { accounts(first: -1) { pageInfo { hasNextPage } } } }",
    "{ me { accountHolder { accounts(first: 101) { totalCount } } } }",
    "{ me { accounts { edges { node { transactions(first: 100000) { totalCount } } } } } }",
    "{ me { auditLogs(first: 100000) { totalCount } } }",
    "{ users(first: 100000) { totalCount } }",
    "{ auditLogs(first: 100000) { totalCount } }",
    "{ accountHolders(first: 100000) { totalCount } }",
    "{ ...F } fragment F on Query { me { accounts(first: 100000) { totalCount } } }",
]


@pytest.mark.parametrize("query", OUT_OF_RANGE_PAGES)
async def test_first_outside_the_page_bound_is_refused_whatever_is_selected(
    client: httpx.AsyncClient, app: Starlette, query: str
) -> None:
    user = await signed_in(client, "ann")
    await create_holder(client, user)
    await open_account(client, user)
    body = await refused_without_sql(client, app, query, user.access_token)
    assert code_of(body) == "BAD_REQUEST"
    assert body["errors"][0]["message"] == PAGE_BOUND
    assert body["errors"][0]["extensions"]["field"] == ["first"]


async def test_first_from_a_variable_outside_the_page_bound_is_refused(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    query = "query($n: Int) { me { accounts(first: $n) { totalCount } } }"
    for size in (100_000, 0, -5):
        with count_statements(app.state.database.engine) as counter:
            body = await gql(client, query, {"n": size}, token=user.access_token)
        assert counter.count == 0, counter.statements
        assert code_of(body) == "BAD_REQUEST"
        assert body["errors"][0]["message"] == PAGE_BOUND
    defaulted = "query($n: Int = 100000) { me { accounts(first: $n) { totalCount } } }"
    for document, variables in ((query, {"n": 100000.0}), (defaulted, {})):
        body = await refused_without_sql(client, app, document, user.access_token, variables)
        assert body["errors"][0]["message"] == PAGE_BOUND
    for size in (1, 100, None):
        body = await gql(client, query, {"n": size}, token=user.access_token)
        assert body["data"] == {"me": {"accounts": {"totalCount": 0}}}, body


async def test_first_with_edges_selected_gets_the_same_refusal(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    query = "{ me { accounts(first: 100000) { edges { node { id } } } } }"
    body = await refused_without_sql(client, app, query, user.access_token)
    assert code_of(body) == "BAD_REQUEST"
    assert body["errors"][0]["message"] == PAGE_BOUND


OPEN_ACCOUNT = (
    "mutation($input: OpenAccountInput!) { openAccount(input: $input) { errors { code } } }"
)
LOGIN_WITH_VARIABLES = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
TYPOS = [  # (document, variables, what a suggestion would name)
    (
        'mutation { openAccount(input: {type: CHEKING, currency: "USD"}) { errors { code } } }',
        {}, "CHECKING",
    ),
    (OPEN_ACCOUNT, {"input": {"type": "CHEKING", "currency": "USD"}}, "CHECKING"),
    ("mutation($input: LoginInpt!) { login(input: $input) { accessToken } }", {}, "LoginInput"),
    ("mutation($i: LogoutInpt) { logout(input: $i) { revokedSessions } }", {}, "LogoutInput"),
    ('{ node(idd: "x") { id } }', {}, "'id'"),
    ('mutation { login(input: {username: "a", password: "b", passwrod: "c"}) { a } }', {},
     "'password'"),
    (LOGIN_WITH_VARIABLES, {"input": {"username": "a", "password": "b", "passwrod": "c"}},
     "'password'"),
    ("{ health { statu } }", {}, "'status'"),
    ("query($d: Bolean) { health @skip(if: $d) { status } }", {}, "'Boolean'"),
    ("{ health @skipp(if: true) { status } }", {}, "'skip'"),
    ("{ health { ... on Helth { status } } }", {}, "'Health'"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "variables", "suggestion"), TYPOS)
async def test_production_suggests_nothing_anywhere(
    database_url: str, tmp_path: Path, query: str, variables: dict[str, Any], suggestion: str
) -> None:
    async with app_with(database_url, tmp_path, **PRODUCTION) as (client, app):
        user = await signed_in(client, "ann")
        with count_statements(app.state.database.engine) as counter:
            body = await gql(client, query, variables, token=user.access_token)
        assert counter.count == 0, counter.statements
        assert code_of(body) == "BAD_REQUEST"
        text = json.dumps(body)
        assert "Did you mean" not in text, text
        assert suggestion not in text, text


async def test_suggestions_stay_outside_production(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "ann")
    for query, variables, suggestion in TYPOS:
        if "@skipp" in query:
            continue  # graphql-core never suggests directive names
        body = await gql(client, query, variables, token=user.access_token)
        assert "Did you mean" in body["errors"][0]["message"], body
        assert suggestion in json.dumps(body), body


BAD_LOGIN_INPUTS = [
    {"username": 5, "password": SECRET_PASSWORD},
    {"password": SECRET_PASSWORD},
    {"username": "ann", "password": SECRET_PASSWORD, "extra": SECRET_PASSWORD},
    {"username": ["ann"], "password": SECRET_PASSWORD},
    SECRET_PASSWORD,
    {"username": "ann", "password": [SECRET_PASSWORD, 1]},
    {"username": "ann", "password": {"p": SECRET_PASSWORD}},
]


@pytest.mark.parametrize("value", BAD_LOGIN_INPUTS)
async def test_variable_errors_never_echo_the_input(
    client: httpx.AsyncClient, app: Starlette, value: object
) -> None:
    await register(client, "ann")
    with count_statements(app.state.database.engine) as counter:
        response = await client.post(
            "/graphql", json={"query": LOGIN_WITH_VARIABLES, "variables": {"input": value}}
        )
    assert counter.count == 0, counter.statements
    body = response.json()
    assert code_of(body) == "BAD_REQUEST"
    assert SECRET_PASSWORD not in response.text
    assert "Sup3r" not in response.text
    assert all(error["message"].startswith("Variable '$input'") for error in body["errors"])


async def test_variable_errors_keep_the_path_and_the_reason(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": LOGIN_WITH_VARIABLES,
            "variables": {"input": {"username": 5, "password": SECRET_PASSWORD}},
        },
    )
    [error] = response.json()["errors"]
    assert error["message"] == (
        "Variable '$input' has invalid value at .username: "
        "String cannot represent a non string value."
    )
    missing = await gql(client, LOGIN_WITH_VARIABLES, {"input": {"password": SECRET_PASSWORD}})
    assert missing["errors"][0]["message"] == (
        "Variable '$input' has invalid value: Expected value of type 'LoginInput' to include "
        "required field 'username'."
    )


async def test_our_own_scalar_reasons_are_kept_without_the_value(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    query = "mutation($input: MoneyMovementInput!) { deposit(input: $input) { errors { code } } }"
    movement = {"accountId": "x", "amount": 4.2573, "idempotencyKey": SECRET_PASSWORD}
    with count_statements(app.state.database.engine) as counter:
        body = await gql(client, query, {"input": movement})
    assert counter.count == 0, counter.statements
    [error] = body["errors"]
    assert error["message"] == (
        "Variable '$input' has invalid value at .amount: Expected value of type 'Long', "
        "but encountered error 'Long must be an integer'."
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "4.2573" not in json.dumps(body)
    assert SECRET_PASSWORD not in json.dumps(body)


async def test_literal_errors_never_echo_the_value(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    query = f'mutation {{ login(input: {{username: 5, password: "{SECRET_PASSWORD}"}}) {{ a }} }}'
    for document in (query, query.replace("username: 5, ", "")):
        body = await refused_without_sql(client, app, document)
        assert code_of(body) == "BAD_REQUEST"
        assert SECRET_PASSWORD not in json.dumps(body), body


@pytest.mark.parametrize("amount", ['"Zq9-Secret-Echo"', "1.5e3", "123456789012345678901"])
async def test_a_literal_our_own_scalar_refuses_is_not_echoed(
    client: httpx.AsyncClient, app: Starlette, amount: str
) -> None:
    query = (
        f'mutation {{ deposit(input: {{accountId: "x", amount: {amount}, idempotencyKey: "k"}}) '
        "{ errors { code } } }"
    )
    body = await refused_without_sql(client, app, query)
    assert code_of(body) == "VALIDATION_FAILED"
    [error] = body["errors"]
    assert amount.strip('"') not in json.dumps(body), body
    assert "Long" in error["message"]  # the reason stays


async def test_a_valid_login_still_works(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "ann")
    body = await gql(client, LOGIN, {"input": {"username": "ann", "password": user.password}})
    assert body["data"]["login"]["accessToken"]


def test_mutation_cost_counts_root_fields_through_fragments(tmp_path: Path) -> None:
    schema = build_schema(make_settings("sqlite+aiosqlite:///unused.db", tmp_path))._schema
    document = parse(
        "mutation { ...M ...M ... on Mutation { logout { revokedSessions } } } "
        "fragment M on Mutation { logout { revokedSessions } a: logout { revokedSessions } }"
    )
    operation, fragment = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert isinstance(fragment, FragmentDefinitionNode)
    cost, refusal = operation_cost(schema, operation, {"M": fragment}, {})
    assert (cost, refusal) == (5 + 5 * 10, None)  # five payload objects, five root fields


def test_a_suggestion_from_any_path_is_cut_when_introspection_is_off(tmp_path: Path) -> None:
    schema = build_schema(make_settings("sqlite+aiosqlite:///unused.db", tmp_path, **PRODUCTION))
    errors = [GraphQLError("Unknown argument 'idd' on field 'Query.node'. Did you mean 'id'?")]
    schema.process_errors(errors)
    assert errors[0].message == "Unknown argument 'idd' on field 'Query.node'."
    assert errors[0].extensions is not None
    assert errors[0].extensions["code"] == "BAD_REQUEST"


async def test_several_operations_without_a_name_run_nothing_over_websocket(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await init(ws, bearer(user.access_token))
            await subscribe(ws, "1", TWO_OPERATIONS)
            message = await receive(ws)
            assert message["type"] == "error", message
            [error] = message["payload"]
            assert error["message"] == MULTIPLE_OPERATIONS
            assert error["extensions"]["code"] == "BAD_REQUEST"
            await subscribe(ws, "2", "query Named { __typename }")
            assert (await receive(ws))["payload"]["data"] == {"__typename": "Query"}
        assert (await register(live.http, "mallory"))["errors"] == []  # never registered
