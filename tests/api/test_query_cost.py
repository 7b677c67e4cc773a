"""Query cost: a static cost before execution, a per-request maximum, a per-caller budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.apps import app_with
from tests.support.audit import audit_rows
from tests.support.identity import gql, signed_in

ACCOUNTS = "query($n: Int) { me { accounts(first: $n) { edges { node { id } } } } }"


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    """The `extensions.cost` summary of a response."""
    summary: dict[str, Any] = body["extensions"]["cost"]
    return summary


async def test_costs_count_objects_multiply_pages_and_weigh_mutations(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path) as (client, _):
        user = await signed_in(client, "ann")
        token = user.access_token
        assert cost_of(await gql(client, "{ me { id username } }", token=token))["requested"] == 1
        # me 1 + accounts 1 + 10 x (edges 1 + node 1)
        paged = await gql(client, ACCOUNTS, {"n": 10}, token=token)
        assert cost_of(paged)["requested"] == 22
        literal = "{ me { accounts(first: 3) { edges { node { id } } } } }"
        assert cost_of(await gql(client, literal, token=token))["requested"] == 8
        # No `first` on a connection: the default page size (20).
        default = "{ me { accounts { edges { node { id } } } } }"
        assert cost_of(await gql(client, default, token=token))["requested"] == 42
        fragments = """
        query { me { ...Mine } }
        fragment Mine on User {
          accounts(first: 2) { edges { ... on AccountEdge { node { id } } } }
        }
        """
        assert cost_of(await gql(client, fragments, token=token))["requested"] == 6
        logout = "mutation { logout { revokedSessions } }"
        assert cost_of(await gql(client, logout, token=token))["requested"] == 11


async def test_an_operation_over_the_maximum_is_refused_before_it_runs(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, graphql_max_cost=50) as (client, app):
        user = await signed_in(client, "ann")
        body = await gql(client, ACCOUNTS, {"n": 100}, token=user.access_token)
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "Query cost 202 exceeds the maximum of 50" in error["message"]
        assert body.get("data") is None
        assert cost_of(body)["requested"] == 202
        # Refused before execution: the expensive profile update below never happened either.
        update = 'mutation { updateProfile(input: {fullName: "X"}) { user { id } } }'
        heavy = update.replace(
            "{ user { id } }", "{ user { accounts(first: 100) { edges { node { id } } } } }"
        )
        assert (await gql(client, heavy, token=user.access_token))["errors"]
        assert not await audit_rows(app.state.database, action="UPDATE", entity_type="User")


async def test_the_budget_is_charged_per_user_and_refuses_with_429_when_spent(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    ann = await signed_in(client, "ann")  # signed in on an app without a budget
    bob = await signed_in(client, "bob")
    async with app_with(database_url, tmp_path, graphql_cost_budget="30/3600") as (budgeted, _):
        first = await gql(budgeted, ACCOUNTS, {"n": 10}, token=ann.access_token)
        assert "errors" not in first, first
        assert cost_of(first)["remaining"] == 8
        assert cost_of(first)["resetAt"].endswith("Z")
        response = await budgeted.post(
            "/graphql", json={"query": ACCOUNTS, "variables": {"n": 10}},
            headers={"authorization": f"Bearer {ann.access_token}"},
        )  # fmt: skip
        refused = response.json()
        assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 3500
        assert cost_of(refused)["remaining"] == 0
        # Another user's budget is untouched.
        other = await gql(budgeted, ACCOUNTS, {"n": 10}, token=bob.access_token)
        assert "errors" not in other, other


async def test_anonymous_callers_are_budgeted_by_address(database_url: str, tmp_path: Path) -> None:
    async with app_with(database_url, tmp_path, graphql_cost_budget="2/3600") as (client, _):
        query = "{ health { status } }"
        assert "errors" not in await gql(client, query)
        assert "errors" not in await gql(client, query)
        body = await gql(client, query)
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
