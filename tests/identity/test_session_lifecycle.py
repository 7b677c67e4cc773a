"""Refresh-token rotation and reuse detection, logout, password changes and session revocation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.identity import STRONG_PASSWORD, SignedIn, gql, login, signed_in

ME = "{ me { id username } }"
SESSIONS = "{ me { sessions { id current } } }"
REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) {
    accessToken refreshToken expiresIn refreshExpiresIn errors { code }
  }
}
"""
LOGOUT = """
mutation Logout($input: LogoutInput) { logout(input: $input) { revokedSessions errors { code } } }
"""
CHANGE_PASSWORD = """
mutation Change($input: ChangePasswordInput!) {
  changePassword(input: $input) { user { id username } errors { code message field } }
}
"""
REVOKE_SESSION = """
mutation Revoke($input: RevokeSessionInput!) {
  revokeSession(input: $input) { session { id current } errors { code message field } }
}
"""
NEW_PASSWORD = "Brand-New-Passw0rd!"


def code_of(body: dict[str, Any]) -> str:
    assert "errors" in body, body
    [error] = body["errors"]
    code: str = error["extensions"]["code"]
    return code


async def works(client: httpx.AsyncClient, token: str) -> bool:
    """Whether an access token is accepted (False only for UNAUTHENTICATED)."""
    body = await gql(client, ME, token=token)
    if "errors" in body:
        assert code_of(body) == "UNAUTHENTICATED", body
        assert body["errors"][0]["extensions"]["status"] == 401
        return False
    return True


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    return await gql(client, REFRESH, {"input": {"refreshToken": refresh_token}})


async def another_session(client: httpx.AsyncClient, user: SignedIn) -> dict[str, str]:
    body = await login(client, user.username, user.password)
    assert "errors" not in body, body
    tokens: dict[str, str] = body["data"]["login"]
    return tokens


# --- refresh ----------------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "amy")
    body = await refresh(client, user.refresh_token)
    assert "errors" not in body, body
    rotated = body["data"]["refreshToken"]
    assert rotated["errors"] == []
    assert rotated["expiresIn"] == 1800
    assert rotated["refreshExpiresIn"] == 604800
    assert rotated["refreshToken"] != user.refresh_token
    assert rotated["accessToken"] != user.access_token
    assert await works(client, rotated["accessToken"])
    again = await refresh(client, rotated["refreshToken"])
    assert "errors" not in again, again
    assert await works(client, again["data"]["refreshToken"]["accessToken"])
    # Still one session: rotation does not open new ones.
    sessions = await gql(client, SESSIONS, token=user.access_token)
    assert len(sessions["data"]["me"]["sessions"]) == 1


async def test_a_spent_refresh_token_revokes_its_whole_session(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "ben")
    other = await another_session(client, user)
    first = (await refresh(client, user.refresh_token))["data"]["refreshToken"]
    second = (await refresh(client, first["refreshToken"]))["data"]["refreshToken"]
    assert await works(client, second["accessToken"])

    replay = await refresh(client, user.refresh_token)  # spent two rotations ago
    assert replay["data"] is None
    assert code_of(replay) == "UNAUTHENTICATED"
    assert replay["errors"][0]["extensions"]["status"] == 401

    # The whole family is gone: newest refresh token and every access token of the session.
    assert code_of(await refresh(client, second["refreshToken"])) == "UNAUTHENTICATED"
    assert not await works(client, second["accessToken"])
    assert not await works(client, first["accessToken"])
    assert not await works(client, user.access_token)
    # Other sessions of the same user are untouched.
    assert await works(client, other["accessToken"])
    assert "errors" not in await refresh(client, other["refreshToken"])


async def test_the_previous_refresh_token_is_spent_right_after_rotation(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in(client, "cara")
    rotated = (await refresh(client, user.refresh_token))["data"]["refreshToken"]
    assert code_of(await refresh(client, user.refresh_token)) == "UNAUTHENTICATED"
    assert code_of(await refresh(client, rotated["refreshToken"])) == "UNAUTHENTICATED"
    assert not await works(client, rotated["accessToken"])


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in(client, "dan")
    results = await asyncio.gather(
        refresh(client, user.refresh_token), refresh(client, user.refresh_token)
    )
    succeeded = [body for body in results if "errors" not in body]
    failed = [body for body in results if "errors" in body]
    assert len(succeeded) == 1, results
    assert len(failed) == 1, results
    assert succeeded[0]["data"]["refreshToken"]["refreshToken"].count(".") == 2
    assert failed[0]["data"] is None
    assert code_of(failed[0]) == "UNAUTHENTICATED"


async def test_refresh_with_garbage_is_unauthenticated(client: httpx.AsyncClient) -> None:
    for token in ("", "nope", "a.b.c"):
        body = await refresh(client, token)
        assert body["data"] is None
        assert code_of(body) == "UNAUTHENTICATED"


# --- logout -----------------------------------------------------------------------------------


async def test_logout_ends_only_the_current_session_at_once(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "eve")
    other = await another_session(client, user)

    body = await gql(client, LOGOUT, {"input": {}}, token=user.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 1, "errors": []}
    assert not await works(client, user.access_token)  # at once, long before expiry
    assert code_of(await refresh(client, user.refresh_token)) == "UNAUTHENTICATED"

    assert await works(client, other["accessToken"])
    sessions = await gql(client, SESSIONS, token=other["accessToken"])
    assert [s["current"] for s in sessions["data"]["me"]["sessions"]] == [True]
    assert "errors" not in await refresh(client, other["refreshToken"])


async def test_logout_without_input_ends_the_current_session(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "finn")
    other = await another_session(client, user)
    body = await gql(client, "mutation { logout { revokedSessions } }", token=user.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 1}
    assert not await works(client, user.access_token)
    assert await works(client, other["accessToken"])


async def test_logout_of_all_sessions_counts_and_ends_them(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "gwen")
    others = [await another_session(client, user) for _ in range(2)]
    bystander = await signed_in(client, "hugo")

    body = await gql(client, LOGOUT, {"input": {"allSessions": True}}, token=user.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 3, "errors": []}
    for access in [user.access_token] + [o["accessToken"] for o in others]:
        assert not await works(client, access)
    for refresh_token in [user.refresh_token] + [o["refreshToken"] for o in others]:
        assert code_of(await refresh(client, refresh_token)) == "UNAUTHENTICATED"
    assert await works(client, bystander.access_token)


async def test_logout_needs_a_live_session(client: httpx.AsyncClient) -> None:
    assert code_of(await gql(client, LOGOUT, {"input": {}})) == "UNAUTHENTICATED"
    user = await signed_in(client, "ida")
    await gql(client, LOGOUT, {"input": {}}, token=user.access_token)
    assert code_of(await gql(client, LOGOUT, {"input": {}}, token=user.access_token)) == (
        "UNAUTHENTICATED"
    )


# --- changePassword ---------------------------------------------------------------------------


async def change(client: httpx.AsyncClient, token: str, current: str, new: str) -> dict[str, Any]:
    body = await gql(
        client, CHANGE_PASSWORD, {"input": {"currentPassword": current, "newPassword": new}},
        token=token,
    )  # fmt: skip
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["changePassword"]
    return payload


async def test_a_wrong_current_password_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "jon")
    other = await another_session(client, user)
    payload = await change(client, user.access_token, "Not-The-Passw0rd!", NEW_PASSWORD)
    assert payload == {
        "user": None,
        "errors": [
            {
                "code": "VALIDATION_FAILED",
                "message": "The current password is wrong.",
                "field": ["input", "currentPassword"],
            }
        ],
    }
    assert "errors" not in await login(client, "jon", STRONG_PASSWORD)
    assert code_of(await login(client, "jon", NEW_PASSWORD)) == "INVALID_CREDENTIALS"
    assert await works(client, other["accessToken"])
    assert await works(client, user.access_token)


async def test_a_weak_new_password_is_refused(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "kim")
    other = await another_session(client, user)
    payload = await change(client, user.access_token, STRONG_PASSWORD, "weakpass")
    field = ["input", "newPassword"]
    assert payload == {
        "user": None,
        "errors": [
            {"code": "WEAK_PASSWORD", "message": message, "field": field}
            for message in (
                "Password must contain an uppercase letter.",
                "Password must contain a digit.",
                "Password must contain a special character.",
            )
        ],
    }
    payload = await change(client, user.access_token, STRONG_PASSWORD, "P@ssw0rd")
    assert payload["errors"] == [
        {"code": "WEAK_PASSWORD", "message": "Password is too common.", "field": field}
    ]
    payload = await change(client, user.access_token, STRONG_PASSWORD, "xKIM-is-me-1!")
    assert payload["errors"] == [
        {"code": "WEAK_PASSWORD", "message": "Password must not contain your username.",
         "field": field}
    ]  # fmt: skip
    payload = await change(client, user.access_token, STRONG_PASSWORD, "Aa1!" + "é" * 35)
    assert payload["errors"] == [
        {"code": "WEAK_PASSWORD", "message": "Password must be at most 72 bytes in UTF-8.",
         "field": field}
    ]  # fmt: skip
    payload = await change(client, user.access_token, STRONG_PASSWORD, STRONG_PASSWORD)
    assert payload["errors"] == [
        {"code": "VALIDATION_FAILED", "message": "The new password must differ.", "field": field}
    ]
    assert "errors" not in await login(client, "kim", STRONG_PASSWORD)
    assert code_of(await login(client, "kim", "weakpass")) == "INVALID_CREDENTIALS"
    assert await works(client, other["accessToken"])


async def test_change_password_returns_the_user(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "lou")
    payload = await change(client, user.access_token, STRONG_PASSWORD, NEW_PASSWORD)
    assert payload == {"user": {"id": user.global_id, "username": "lou"}, "errors": []}


async def test_changing_the_password_ends_every_other_session(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "lou")
    other = await another_session(client, user)
    bystander = await signed_in(client, "max")

    # The payload itself is checked by test_change_password_returns_the_user; here, the effects.
    await gql(
        client, CHANGE_PASSWORD,
        {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD}},
        token=user.access_token,
    )  # fmt: skip

    assert await works(client, user.access_token)  # the session that changed it stays
    assert "errors" not in await refresh(client, user.refresh_token)
    assert not await works(client, other["accessToken"])  # at once
    assert code_of(await refresh(client, other["refreshToken"])) == "UNAUTHENTICATED"
    assert await works(client, bystander.access_token)

    assert code_of(await login(client, "lou", STRONG_PASSWORD)) == "INVALID_CREDENTIALS"
    assert "errors" not in await login(client, "lou", NEW_PASSWORD)


async def test_change_password_needs_a_live_session(client: httpx.AsyncClient) -> None:
    variables = {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD}}
    assert code_of(await gql(client, CHANGE_PASSWORD, variables)) == "UNAUTHENTICATED"


# --- revokeSession ----------------------------------------------------------------------------


async def session_ids(client: httpx.AsyncClient, token: str) -> dict[bool, list[str]]:
    """This user's live session ids, split into current and not current."""
    body = await gql(client, SESSIONS, token=token)
    assert "errors" not in body, body
    split: dict[bool, list[str]] = {True: [], False: []}
    for session in body["data"]["me"]["sessions"]:
        split[session["current"]].append(session["id"])
    return split


async def test_revoke_session_ends_one_of_your_sessions(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "nora")
    other = await another_session(client, user)
    [other_id] = (await session_ids(client, other["accessToken"]))[True]
    [mine] = (await session_ids(client, user.access_token))[True]

    body = await gql(
        client, REVOKE_SESSION, {"input": {"sessionId": other_id}}, token=user.access_token
    )
    assert body["data"]["revokeSession"] == {
        "session": {"id": other_id, "current": False},
        "errors": [],
    }
    assert not await works(client, other["accessToken"])
    assert code_of(await refresh(client, other["refreshToken"])) == "UNAUTHENTICATED"
    assert await works(client, user.access_token)
    assert await session_ids(client, user.access_token) == {True: [mine], False: []}


async def test_revoking_someone_elses_session_is_not_found(client: httpx.AsyncClient) -> None:
    owner = await signed_in(client, "otto")
    intruder = await signed_in(client, "paul")
    [target] = (await session_ids(client, owner.access_token))[True]

    body = await gql(
        client, REVOKE_SESSION, {"input": {"sessionId": target}}, token=intruder.access_token
    )
    assert body["data"]["revokeSession"] == {
        "session": None,
        "errors": [
            {"code": "NOT_FOUND", "message": "No such session.", "field": ["input", "sessionId"]}
        ],
    }
    assert await works(client, owner.access_token)
    assert "errors" not in await refresh(client, owner.refresh_token)
    assert await works(client, intruder.access_token)


# --- deprecated payload errors ----------------------------------------------------------------

PAYLOAD_FIELDS = """
query Fields($name: String!) {
  __type(name: $name) { fields(includeDeprecated: true) { name isDeprecated deprecationReason } }
}
"""
ALWAYS_EMPTY = (
    "Always empty: sign-in, refresh and sign-out failures are top-level errors with "
    "`extensions.code`."
)


async def test_sign_in_refresh_and_sign_out_errors_are_deprecated_and_empty(
    client: httpx.AsyncClient,
) -> None:
    for name in ("LoginPayload", "RefreshTokenPayload", "LogoutPayload"):
        body = await gql(client, PAYLOAD_FIELDS, {"name": name})
        deprecated = [
            (field["name"], field["deprecationReason"])
            for field in body["data"]["__type"]["fields"]
            if field["isDeprecated"]
        ]
        assert deprecated == [("errors", ALWAYS_EMPTY)], name
    user = await signed_in(client, "zoe")
    selected = await gql(
        client,
        "mutation L($input: LoginInput!) { login(input: $input) { tokenType errors { code } } }",
        {"input": {"username": "zoe", "password": STRONG_PASSWORD}},
    )
    assert "errors" not in selected, selected
    assert selected["data"] == {"login": {"tokenType": "Bearer", "errors": []}}
    refreshed = await refresh(client, user.refresh_token)
    assert refreshed["data"]["refreshToken"]["errors"] == []
    body = await gql(client, LOGOUT, {"input": {}}, token=user.access_token)
    assert body["data"]["logout"] == {"revokedSessions": 1, "errors": []}
