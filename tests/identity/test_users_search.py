"""The users search treats `%` and `_` literally (no wildcard injection)."""

from __future__ import annotations

import httpx

from db.session import Database
from tests.support.identity import gql, register, signed_in_with_role

SEARCH = "query($s: String!) { users(filter: {search: $s}) { edges { node { username } } } }"


async def test_like_wildcards_in_search_match_themselves(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await register(client, "under_score")
    await register(client, "plainname")

    async def names(search: str) -> list[str]:
        body = await gql(client, SEARCH, {"s": search}, token=admin.access_token)
        assert "errors" not in body, body
        return sorted(edge["node"]["username"] for edge in body["data"]["users"]["edges"])

    assert await names("%") == []
    assert await names("_") == ["under_score"]
    assert await names("NAME") == ["plainname"]
