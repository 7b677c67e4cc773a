"""`User.auditLogs` inside lists: a constant number of statements, cursors that continue."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from db.session import Database
from tests.support.identity import STRONG_PASSWORD, gql, login, register, signed_in_with_role
from tests.support.queries import count_statements

USERS_WITH_AUDIT = """
query($first: Int!) {
  users(first: $first, orderBy: {field: USERNAME, direction: ASC}) {
    edges { node {
      username
      auditLogs(first: 1) {
        totalCount
        edges { cursor node { sequence action user { username } } }
        pageInfo { hasNextPage endCursor }
      }
    } }
  }
}
"""
ONE_USER_AUDIT = """
query($id: ID!, $after: String) {
  user(id: $id) { auditLogs(first: 10, after: $after) { edges { node { sequence action } } } }
}
"""


async def test_audit_logs_of_listed_users_take_a_constant_number_of_statements(
    client: httpx.AsyncClient, database: Database, app: Starlette
) -> None:
    engine = app.state.database.engine
    admin = await signed_in_with_role(client, database, "aaboss", "admin")
    for index in range(8):
        await register(client, f"member{index}")
        await login(client, f"member{index}", STRONG_PASSWORD)

    async def statements(first: int) -> int:
        with count_statements(engine) as counter:
            body = await gql(client, USERS_WITH_AUDIT, {"first": first}, token=admin.access_token)
        assert "errors" not in body, body
        for edge in body["data"]["users"]["edges"][1:]:
            logs = edge["node"]["auditLogs"]
            assert logs["totalCount"] == 3  # CREATE and role grant at sign-up, then LOGIN
            [only] = logs["edges"]
            assert only["node"]["action"] == "LOGIN"
            assert only["node"]["user"] == {"username": edge["node"]["username"]}
            assert logs["pageInfo"]["hasNextPage"] is True
        return counter.count

    assert await statements(3) == await statements(9)


async def test_a_nested_first_page_cursor_continues_on_the_user_list(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "aaboss", "admin")
    await register(client, "member")
    await login(client, "member", STRONG_PASSWORD)
    body = await gql(client, USERS_WITH_AUDIT, {"first": 2}, token=admin.access_token)
    member = body["data"]["users"]["edges"][1]["node"]
    assert member["username"] == "member"
    first_page = member["auditLogs"]
    listed = await gql(
        client, "query { users(first: 2, orderBy: {field: USERNAME}) { edges { node { id } } } }",
        token=admin.access_token,
    )  # fmt: skip
    member_id = listed["data"]["users"]["edges"][1]["node"]["id"]
    rest = await gql(
        client, ONE_USER_AUDIT, {"id": member_id, "after": first_page["pageInfo"]["endCursor"]},
        token=admin.access_token,
    )  # fmt: skip
    assert "errors" not in rest, rest
    older = rest["data"]["user"]["auditLogs"]["edges"]
    assert [edge["node"]["action"] for edge in older] == ["PERMISSION_CHANGE", "CREATE"]
    assert older[0]["node"]["sequence"] < first_page["edges"][0]["node"]["sequence"]


async def test_me_audit_logs_hold_only_the_callers_rows_newest_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "other")
    await login(client, "other", STRONG_PASSWORD)
    viewer = await signed_in_with_role(client, database, "viewer", "user")
    body = await gql(
        client, "query { me { auditLogs(first: 5) { totalCount edges { node { action } } } } }",
        token=viewer.access_token,
    )  # fmt: skip
    logs = body["data"]["me"]["auditLogs"]
    assert [edge["node"]["action"] for edge in logs["edges"]] == [
        "LOGIN", "PERMISSION_CHANGE", "CREATE"
    ]  # fmt: skip
    assert logs["totalCount"] == 3
