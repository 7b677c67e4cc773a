"""The `users` connection: keyset pagination, cursors, filters, ordering, statements per page."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from starlette.applications import Starlette

from db.repositories.pages import encode_cursor
from db.services import identity as identity_service
from db.session import Database
from tests.identity.test_users_queries import (
    ALL_PERMISSIONS,
    USERS,
    all_names,
    assert_top_level,
    names,
    users_page,
)
from tests.support.identity import gql, grant_role, register, signed_in_with_role, user_uuid
from tests.support.queries import count_statements

REVOKE = """
mutation($id: ID!, $role: String!) {
  revokeRole(input: {userId: $id, role: $role}) { errors { code } }
}
"""


async def delete_directly(database: Database, user_global_id: str) -> None:
    """Soft-delete through the service layer (the mutation is tested in test_users_management)."""
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.delete(transaction, user_uuid(user_global_id))


# --- pagination and cursors ------------------------------------------------------------------


async def test_users_pages_through_seven_users_three_at_a_time(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    for index in range(6):
        await register(client, f"member{index}")
    expected = ["boss"] + [f"member{index}" for index in range(6)]
    seen: list[str] = []
    after: str | None = None
    pages = []
    while True:
        page = await users_page(client, admin.access_token, first=3, after=after)
        pages.append(page)
        assert page["totalCount"] == 7
        info = page["pageInfo"]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (after is not None)
        seen += names(page)
        after = info["endCursor"]
        if not info["hasNextPage"]:
            break
    assert [len(page["edges"]) for page in pages] == [3, 3, 1]
    assert seen == expected
    rest = await users_page(client, admin.access_token, first=3, after=after)
    assert rest["edges"] == []
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["endCursor"] is None


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_outside_one_to_a_hundred_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, first: int
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    body = await gql(client, USERS, {"first": first}, token=admin.access_token)
    error = assert_top_level(body, "BAD_REQUEST", 400)
    assert error["message"] == "`first` must be between 1 and 100"
    assert "data" not in body  # refused before execution, with every other request error


async def test_first_at_the_bounds_is_accepted(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await register(client, "other")
    assert names(await users_page(client, admin.access_token, first=1)) == ["boss"]
    assert names(await users_page(client, admin.access_token, first=100)) == ["boss", "other"]


@pytest.mark.parametrize(
    "after",
    ["garbage", "!!!", encode_cursor("hello"), encode_cursor("no-direction~s:x")],
)
async def test_a_garbage_cursor_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, after: str
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    body = await gql(client, USERS, {"first": 2, "after": after}, token=admin.access_token)
    assert_top_level(body, "BAD_REQUEST", 400)
    assert body["data"] is None


async def test_a_cursor_of_another_ordering_is_a_bad_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await register(client, "other")
    by_name = {"field": "USERNAME", "direction": "ASC"}
    page = await users_page(client, admin.access_token, first=1, order=by_name)
    cursor = page["pageInfo"]["endCursor"]
    body = await gql(client, USERS, {"first": 1, "after": cursor}, token=admin.access_token)
    assert_top_level(body, "BAD_REQUEST", 400)
    assert body["data"] is None


async def test_cursors_survive_inserts_in_creation_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    originals = ["boss"] + [f"old{index}" for index in range(6)]
    for name in originals[1:]:
        await register(client, name)
    seen: list[str] = []
    after: str | None = None
    added = 0
    while True:
        page = await users_page(client, admin.access_token, first=3, after=after)
        seen += names(page)
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        for _ in range(2):  # users created between two page fetches
            await register(client, f"new{added}")
            added += 1
    assert len(seen) == len(set(seen))
    assert [name for name in seen if name.startswith(("boss", "old"))] == originals
    assert seen == originals + [f"new{index}" for index in range(added)]


async def test_cursors_survive_inserts_and_deletes_before_the_cursor(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Offsets would repeat rows after inserts before the cursor and skip after deletes."""
    admin = await signed_in_with_role(client, database, "boss", "admin")
    ids = {}
    for index in range(6):
        ids[f"mem{index}"] = (await register(client, f"mem{index}"))["user"]["id"]
    order = {"field": "USERNAME", "direction": "ASC"}
    first = await users_page(client, admin.access_token, first=3, order=order)
    assert names(first) == ["boss", "mem0", "mem1"]
    await register(client, "aaa")  # sorts before every row already seen
    await register(client, "abc")
    await delete_directly(database, ids["mem0"])
    after = first["pageInfo"]["endCursor"]
    second = await users_page(client, admin.access_token, first=3, after=after, order=order)
    assert names(second) == ["mem2", "mem3", "mem4"]
    after = second["pageInfo"]["endCursor"]
    third = await users_page(client, admin.access_token, first=3, after=after, order=order)
    assert names(third) == ["mem5"]
    assert third["pageInfo"]["hasNextPage"] is False


# --- users: filters and ordering -------------------------------------------------------------


async def test_search_matches_username_email_and_full_name_ignoring_case(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await register(client, "alpha_one", full_name="Zed Quux")
    await register(client, "bravo", email="Bravo@Special.test")
    await register(client, "charlie", full_name="Mixed CaseName")
    token = admin.access_token
    assert await all_names(client, token, filter={"search": "ALPHA"}) == ["alpha_one"]
    assert await all_names(client, token, filter={"search": "sPeCiAl"}) == ["bravo"]
    assert await all_names(client, token, filter={"search": "casename"}) == ["charlie"]
    assert await all_names(client, token, filter={"search": "QUU"}) == ["alpha_one"]
    assert await all_names(client, token, filter={"search": "nobody"}) == []
    page = await users_page(client, token, first=100, filter={"search": "EXAMPLE.COM"})
    assert names(page) == ["boss", "alpha_one", "charlie"]
    assert page["totalCount"] == 3


async def test_is_active_filter(client: httpx.AsyncClient, database: Database) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    sleeper = (await register(client, "sleeper"))["user"]["id"]
    await register(client, "awake")
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.set_active(transaction, user_uuid(sleeper), active=False)
    token = admin.access_token
    assert await all_names(client, token, filter={"isActive": False}) == ["sleeper"]
    assert await all_names(client, token, filter={"isActive": True}) == ["boss", "awake"]
    assert await all_names(client, token) == ["boss", "sleeper", "awake"]


async def test_role_filter_counts_only_live_grants(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    helper = await signed_in_with_role(client, database, "helper", "support")
    await register(client, "plain")
    token = admin.access_token
    assert await all_names(client, token, filter={"role": "support"}) == ["helper"]
    assert await all_names(client, token, filter={"role": "admin"}) == ["boss"]
    assert await all_names(client, token, filter={"role": "user"}) == ["boss", "helper", "plain"]
    assert await all_names(client, token, filter={"role": "no-such-role"}) == []
    body = await gql(client, REVOKE, {"id": helper.global_id, "role": "support"}, token=token)
    assert body["data"]["revokeRole"]["errors"] == [], body
    page = await users_page(client, token, first=100, filter={"role": "support"})
    assert page["edges"] == []
    assert page["totalCount"] == 0


async def test_created_after_and_before(client: httpx.AsyncClient, database: Database) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    for name in ("first", "second", "third"):
        await register(client, name)
    page = await users_page(client, admin.access_token, first=100)
    created = {edge["node"]["username"]: edge["node"]["createdAt"] for edge in page["edges"]}

    def between(earlier: str, later: str) -> str:
        start, end = (
            datetime.fromisoformat(created[earlier]),
            datetime.fromisoformat(created[later]),
        )
        assert start < end
        return (start + (end - start) / 2).isoformat()

    after_first, before_third = between("first", "second"), between("second", "third")
    token = admin.access_token
    assert await all_names(client, token, filter={"createdAfter": after_first}) == [
        "second", "third"
    ]  # fmt: skip
    assert await all_names(client, token, filter={"createdBefore": before_third}) == [
        "boss", "first", "second"
    ]  # fmt: skip
    both = {"createdAfter": after_first, "createdBefore": before_third}
    page = await users_page(client, token, first=100, filter=both)
    assert names(page) == ["second"]
    assert page["totalCount"] == 1


async def test_a_datetime_without_offset_is_not_an_internal_error(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    body = await gql(
        client, USERS, {"filter": {"createdAfter": "2020-01-01T00:00:00"}},
        token=admin.access_token,
    )  # fmt: skip
    if "errors" in body:
        assert_top_level(body, "BAD_REQUEST", 400)
    else:
        assert names(body["data"]["users"]) == ["boss"]


async def test_deleted_users_are_hidden_unless_asked_for(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    gone = (await register(client, "gone"))["user"]["id"]
    await register(client, "kept")
    await delete_directly(database, gone)
    page = await users_page(client, admin.access_token, first=100)
    assert names(page) == ["boss", "kept"]
    assert page["totalCount"] == 2
    page = await users_page(client, admin.access_token, first=100, filter={"includeDeleted": True})
    assert names(page) == ["boss", "gone", "kept"]
    assert page["totalCount"] == 3
    deleted_at = {edge["node"]["username"]: edge["node"]["deletedAt"] for edge in page["edges"]}
    assert deleted_at["boss"] is None
    assert deleted_at["kept"] is None
    assert deleted_at["gone"] is not None
    datetime.fromisoformat(deleted_at["gone"])


async def test_order_by_username_descending(client: httpx.AsyncClient, database: Database) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    for name in ("mike", "alpha", "zulu", "kilo"):
        await register(client, name)
    order = {"field": "USERNAME", "direction": "DESC"}
    assert await all_names(client, admin.access_token, order=order) == [
        "zulu", "mike", "kilo", "boss", "alpha"
    ]  # fmt: skip
    seen: list[str] = []
    after = None
    for _ in range(3):
        page = await users_page(client, admin.access_token, first=2, after=after, order=order)
        seen += names(page)
        after = page["pageInfo"]["endCursor"]
    assert seen == ["zulu", "mike", "kilo", "boss", "alpha"]
    assert page["pageInfo"]["hasNextPage"] is False


# --- users: statements per page --------------------------------------------------------------

DEEP_USERS = """
query($first: Int!) {
  users(first: $first) {
    totalCount
    edges { node { username isAdmin roles { name permissions } } }
  }
}
"""
ROLE_CYCLE = ("support", "auditor", "admin", "user")


async def test_users_with_roles_and_permissions_runs_a_constant_number_of_statements(
    client: httpx.AsyncClient, database: Database, app: Starlette
) -> None:
    engine = app.state.database.engine
    admin = await signed_in_with_role(client, database, "boss", "admin")

    async def add(index: int) -> None:
        payload = await register(client, f"user{index:02}")
        await grant_role(database, user_uuid(payload["user"]["id"]), ROLE_CYCLE[index % 4])

    async def measure(first: int) -> tuple[int, list[str]]:
        with count_statements(engine) as counter:
            body = await gql(client, DEEP_USERS, {"first": first}, token=admin.access_token)
        assert "errors" not in body, body
        page = body["data"]["users"]
        assert page["totalCount"] == first
        assert len(page["edges"]) == first
        for edge in page["edges"]:
            node = edge["node"]
            role_names = [role["name"] for role in node["roles"]]
            assert node["isAdmin"] is ("admin" in role_names), node
            for role in node["roles"]:
                if role["name"] == "admin":
                    assert role["permissions"] == ALL_PERMISSIONS
        return counter.count, counter.statements

    await add(0)
    small, small_statements = await measure(2)
    for index in range(1, 9):
        await add(index)
    large, large_statements = await measure(10)
    assert small == large, (small_statements, large_statements)
    # authenticate (session+user, permissions), page, count, roles batch, permissions batch,
    # then the audited read: chain tip lock, audit insert and tip move (one statement on PG)
    assert large <= 9, large_statements
