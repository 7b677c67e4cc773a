"""Hostile GraphQL documents and requests: each attack is refused safely, on both backends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.identity.loaders import RolesByUser
from tests.support.apps import PRODUCTION, app_with, code_of, refused_without_sql
from tests.support.audit import audit_rows
from tests.support.identity import STRONG_PASSWORD, gql, register, signed_in
from tests.support.money import create_holder, open_account
from tests.support.queries import count_statements


def aliased_logins(username: str, count: int) -> str:
    """`count` aliased `login` fields for `username`, each with a different wrong password."""
    return " ".join(
        f'g{n}: login(input: {{username: "{username}", password: "Guess-{n}-passw0rd!"}}) '
        "{ accessToken }"
        for n in range(count)
    )


def nested(levels: Sequence[str], depth: int, leaf: str = "id") -> str:
    """`levels` repeated cyclically into a selection `depth` fields deep, ending at `leaf`."""
    names = [levels[i % len(levels)] for i in range(depth - 1)]
    return "".join(f"{name} {{ " for name in names) + leaf + " }" * len(names)


async def test_deep_query_is_bad_request_and_executes_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    deep = "{ " + nested(["me", "accountHolder", "user", "accountHolder", "user"], 20) + " }"
    # The same depth reached through Relay connections instead of plain object fields.
    relay = "{ me { " + nested(["accounts", "edges", "node", "holder"], 20) + " } }"
    for query in (deep, relay):
        body = await refused_without_sql(client, app, query, user.access_token)
        assert code_of(body) == "BAD_REQUEST"
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_cyclic_fragments_are_bad_request(client: httpx.AsyncClient, app: Starlette) -> None:
    user = await signed_in(client, "ann")
    query = """
    query { me { ...A } }
    fragment A on User { accountHolder { user { ...B } } }
    fragment B on User { accountHolder { user { ...A } } }
    """
    body = await refused_without_sql(client, app, query, user.access_token)
    assert code_of(body) == "BAD_REQUEST"
    assert "Cannot spread fragment 'A' within itself" in body["errors"][0]["message"]


async def test_a_hundred_and_one_aliases_are_bad_request(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    query = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(101)) + " }"
    body = await refused_without_sql(client, app, query, user.access_token)
    assert code_of(body) == "BAD_REQUEST"
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_repeated_directives_are_bad_request_never_internal(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    directives = " ".join(["@include(if: true)"] * 50)
    for query in (f"{{ me {directives} {{ id }} }}", f"{{ me {{ id {directives} }} }}"):
        body = await refused_without_sql(client, app, query, user.access_token)
        assert code_of(body) == "BAD_REQUEST"
        assert body["errors"][0]["message"] == (
            "The anonymous operation puts more than 10 directives on one selection."
        )


HUGE_PAGES = [
    "{ me { accounts(first: 100000) { edges { node { id } } } } }",
    "{ me { accountHolder { accounts(first: 100000) { edges { node { id } } } } } }",
    "{ me { accounts(first: 1) { edges { node { transactions(first: 100000) "
    "{ edges { node { id } } } } } } } }",
    "{ users(first: 100000) { edges { node { id } } } }",
]


@pytest.mark.parametrize("query", HUGE_PAGES)
async def test_huge_first_is_refused_by_cost_before_it_runs(
    database_url: str, tmp_path: Path, query: str
) -> None:
    async with app_with(database_url, tmp_path, graphql_max_cost=1000) as (client, app):
        user = await signed_in(client, "ann")
        body = await refused_without_sql(client, app, query, user.access_token)
        assert code_of(body) == "BAD_REQUEST"
        assert "exceeds the maximum of 1000" in body["errors"][0]["message"]


async def test_huge_first_past_the_cost_limit_still_hits_the_page_bound(
    client: httpx.AsyncClient,
) -> None:
    """`client`'s app lifts the cost cap, so the 1..100 page bound is the line of defence."""
    user = await signed_in(client, "ann")
    await create_holder(client, user)
    await open_account(client, user)
    for query in HUGE_PAGES[:3]:
        response = await client.post(
            "/graphql",
            json={"query": query},
            headers={"authorization": f"Bearer {user.access_token}"},
        )
        body = response.json()
        assert code_of(body) == "BAD_REQUEST", body
        assert "between 1 and 100" in body["errors"][0]["message"]
        assert len(response.content) < 2000


async def test_aliased_login_brute_force_checks_at_most_five_passwords(
    database_url: str, tmp_path: Path
) -> None:
    # Root mutation fields raised to 20, so that the rate limit is what stops the guesses.
    overrides = {"rate_limit_login": "5/900", "graphql_max_root_mutation_fields": 20}
    async with app_with(database_url, tmp_path, **overrides) as (client, app):
        await register(client, "victim")
        guesses = aliased_logins("victim", 20)
        codes = [code_of(await gql(client, f"mutation {{ {guesses} }}")) for _ in range(8)]
        rows = await audit_rows(app.state.database, action="LOGIN_FAILED")
        failed = [row for row in rows if (row["extra"] or {}).get("attempted_login") == "victim"]
        assert 1 <= len(failed) <= 5, failed
        assert codes[5:] == ["RATE_LIMITED"] * 3
        assert set(codes) <= {"INVALID_CREDENTIALS", "ACCOUNT_LOCKED", "RATE_LIMITED"}
        # The right password is refused too while the limit lasts: no oracle for the guess.
        right = (
            f'login(input: {{username: "victim", password: "{STRONG_PASSWORD}"}}) {{ accessToken }}'
        )
        assert code_of(await gql(client, f"mutation {{ {right} }}")) == "RATE_LIMITED"


async def test_twenty_aliased_logins_are_refused_whole_by_default(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await register(client, "victim")
    body = await refused_without_sql(client, app, f"mutation {{ {aliased_logins('victim', 20)} }}")
    assert code_of(body) == "BAD_REQUEST"
    assert body["errors"][0]["message"] == "20 root fields in one mutation. Allowed: 10"


async def test_token_count_bomb_is_bad_request(client: httpx.AsyncClient, app: Starlette) -> None:
    body = await refused_without_sql(client, app, "{ " + "__typename " * 5000 + "}")
    assert code_of(body) == "BAD_REQUEST"
    assert "token" in body["errors"][0]["message"].lower()


async def test_deeply_nested_argument_literal_is_bad_request(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    query = "{ __typename(x: " + "[" * 900 + "1" + "]" * 900 + ") }"
    body = await refused_without_sql(client, app, query)
    assert code_of(body) == "BAD_REQUEST"
    assert "nested too deeply" in body["errors"][0]["message"]


async def test_oversized_query_or_variables_are_413(client: httpx.AsyncClient) -> None:
    big = "x" * (1_048_576 + 1)
    in_query = {"query": "{ health { status } }" + " " * len(big)}
    in_variables = {"query": "query($v: String) { health { status } }", "variables": {"v": big}}
    many_variables = {
        "query": "{ health { status } }",
        "variables": {f"v{n}": n for n in range(120_000)},
    }
    for payload in (in_query, in_variables, many_variables):
        response = await client.post("/graphql", json=payload)
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_REQUEST", "status": 413,
            "requestId": response.headers["x-request-id"],
        }  # fmt: skip


async def test_deeply_nested_variables_json_is_bad_request_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    depth = 100_000  # 200 kB, under the body limit, far past Python's recursion limit
    body = '{"query": "{ __typename }", "variables": {"v": ' + "[" * depth + "]" * depth + "}}"
    response = await client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert code_of(response.json()) == "BAD_REQUEST"


REGISTER_EVE = (
    'mutation { register(input: {username: "eve", email: "eve@example.com", '
    f'password: "{STRONG_PASSWORD}"}}) {{ user {{ id }} }} }}'
)


async def assert_eve_is_unregistered(client: httpx.AsyncClient) -> None:
    """The forged `register` never ran: registering `eve` for real still succeeds."""
    assert (await register(client, "eve"))["errors"] == []


@pytest.mark.parametrize(
    "forged",
    [
        {"data": {"query": REGISTER_EVE}},  # application/x-www-form-urlencoded
        {"files": {"query": (None, REGISTER_EVE)}},  # multipart/form-data
        {"content": json.dumps({"query": REGISTER_EVE}), "headers": {"content-type": "text/plain"}},
    ],
    ids=["urlencoded", "multipart", "text-plain"],
)
async def test_cross_site_form_posts_are_415_and_execute_nothing(
    client: httpx.AsyncClient, app: Starlette, forged: dict[str, Any]
) -> None:
    with count_statements(app.state.database.engine) as counter:
        response = await client.post("/graphql", **forged)
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["status"] == 415
    assert code_of(response.json()) == "BAD_REQUEST"
    assert counter.count == 0, counter.statements
    await assert_eve_is_unregistered(client)


async def test_mutation_over_get_is_405_and_executes_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    with count_statements(app.state.database.engine) as counter:
        response = await client.get(
            "/graphql", params={"query": REGISTER_EVE}, headers={"graphql-require-preflight": "1"}
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert code_of(response.json()) == "BAD_REQUEST"
    assert counter.count == 0, counter.statements
    await assert_eve_is_unregistered(client)


async def test_production_hides_schema_suggestions_and_graphiql(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, **PRODUCTION, graphiql_enabled=True) as (client, _):
        probes = [
            "{ __schema { types { name } } }",
            '{ __type(name: "User") { fields { name } } }',
            "{ ...F } fragment F on Query { __schema { queryType { name } } }",
        ]
        for probe in probes:
            body = await gql(client, probe)
            assert code_of(body) == "BAD_REQUEST"
            assert "data" not in body
        user = await signed_in(client, "ann")
        for typo in (
            "{ me { usernam } }",
            "{ helth { status } }",
            "{ me { acounts { totalCount } } }",
        ):
            body = await gql(client, typo, token=user.access_token)
            assert code_of(body) == "BAD_REQUEST"
            assert "Did you mean" not in json.dumps(body)
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        assert not page.headers.get("content-type", "").startswith("text/html")


async def test_unexpected_resolver_errors_leak_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await signed_in(client, "ann")

    async def explode(self: RolesByUser, ids: Sequence[Any]) -> list[Any]:
        raise RuntimeError("secret detail SELECT password_hash FROM users")

    monkeypatch.setattr(RolesByUser, "batch_load_fn", explode)
    response = await client.post(
        "/graphql", json={"query": "{ me { id roles { name } } }"}, headers=user.headers
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    for leak in ("secret detail", "SELECT", "password_hash", "Traceback", "RuntimeError", "users"):
        assert leak not in response.text
