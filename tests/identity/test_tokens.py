"""Access and refresh tokens: what verifies, what does not, and signing-key rotation."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from auth.tokens import REQUIRED_CLAIMS, key_id
from core.settings import Settings
from graph.app import create_app
from tests.conftest import TEST_SECRET, make_settings
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.lifespan import app_lifespan

ME = "{ me { id username } }"
REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken expiresIn refreshExpiresIn }
}
"""
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256-signing"


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token, unverified."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def sign(
    claims: dict[str, Any],
    secret: str,
    *,
    kid: str | None = None,
    algorithm: str = "HS256",
    with_kid: bool = True,
) -> str:
    headers = {"kid": kid or key_id(secret)} if with_kid else None
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def assert_unauthenticated(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", body
    assert error["extensions"]["status"] == 401


async def me_with(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    return await gql(client, ME, token=token)


async def assert_me_works(client: httpx.AsyncClient, user: SignedIn, token: str) -> None:
    body = await me_with(client, token)
    assert "errors" not in body, body
    assert body["data"]["me"]["username"] == user.username


# --- the tokens the app issues ----------------------------------------------------------------


async def test_issued_tokens_carry_the_expected_claims(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "tara")
    now = time.time()
    for token, typ, ttl in (
        (user.access_token, "access", 1800),
        (user.refresh_token, "refresh", 604800),
    ):
        assert header_of(token) == {
            "alg": "HS256",
            "typ": "JWT",
            "kid": key_id(settings.signing_secret()),
        }
        claims = claims_of(token)
        assert set(claims) == set(REQUIRED_CLAIMS)
        assert claims["iss"] == settings.jwt_issuer
        assert claims["aud"] == settings.jwt_audience
        assert claims["sub"] == str(user.user_id)
        assert claims["typ"] == typ
        assert abs(claims["exp"] - claims["iat"] - ttl) <= 1
        assert abs(claims["iat"] - now) < 60
    access, refresh = claims_of(user.access_token), claims_of(user.refresh_token)
    assert access["sid"] == refresh["sid"]
    assert access["jti"] != refresh["jti"]


async def test_a_token_re_signed_with_the_real_key_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # The control for the forgeries below: our signing reproduces what the app accepts.
    user = await signed_in(client, "uma")
    forged = sign(claims_of(user.access_token), settings.signing_secret())
    await assert_me_works(client, user, forged)


# --- forgeries and misuse ---------------------------------------------------------------------


async def test_a_tampered_signature_is_refused(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "vera")
    head, payload, signature = user.access_token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    assert_unauthenticated(await me_with(client, tampered))
    assert_unauthenticated(await me_with(client, f"{head}.{payload}."))
    await assert_me_works(client, user, user.access_token)


async def test_a_tampered_payload_is_refused(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "wade")
    head, _, signature = user.access_token.split(".")
    claims = claims_of(user.access_token)
    claims["exp"] += 3600
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_unauthenticated(await me_with(client, f"{head}.{changed}.{signature}"))


async def test_a_token_signed_with_another_secret_under_the_real_kid_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "xena")
    kid = key_id(settings.signing_secret())
    forged = sign(claims_of(user.access_token), OTHER_SECRET, kid=kid)
    assert_unauthenticated(await me_with(client, forged))


async def test_an_unsigned_alg_none_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "yuri")
    claims = claims_of(user.access_token)
    kid = key_id(settings.signing_secret())
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    assert header_of(unsigned)["alg"] == "none"
    assert unsigned.endswith(".")
    assert_unauthenticated(await me_with(client, unsigned))
    # Hand-built variants: 'None' spelling, and a stray signature left on.
    head = base64.urlsafe_b64encode(
        json.dumps({"alg": "None", "typ": "JWT", "kid": kid}).encode()
    ).rstrip(b"=")
    body = unsigned.split(".")[1]
    assert_unauthenticated(await me_with(client, f"{head.decode()}.{body}."))
    signature = user.access_token.split(".")[2]
    assert_unauthenticated(await me_with(client, f"{unsigned.split('.')[0]}.{body}.{signature}"))


async def test_another_hmac_algorithm_with_the_real_key_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "zack")
    forged = sign(claims_of(user.access_token), settings.signing_secret(), algorithm="HS384")
    assert_unauthenticated(await me_with(client, forged))


async def test_a_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "abel")
    assert_unauthenticated(await me_with(client, user.refresh_token))
    # ...and trying did not harm the session: the refresh token still rotates.
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": user.refresh_token}})
    assert "errors" not in refreshed, refreshed


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, "bea")
    body = await gql(client, REFRESH, {"input": {"refreshToken": user.access_token}})
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["status"] == 401
    assert error["path"] == ["refreshToken"]
    # Nothing changed: the session's own tokens still work.
    await assert_me_works(client, user, user.access_token)
    refreshed = await gql(client, REFRESH, {"input": {"refreshToken": user.refresh_token}})
    assert "errors" not in refreshed, refreshed


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "someone-else"), ("aud", "another-api"), ("aud", ["another-api"])],
)
async def test_a_foreign_issuer_or_audience_is_refused(
    client: httpx.AsyncClient, settings: Settings, claim: str, value: object
) -> None:
    user = await signed_in(client, "cleo")
    claims = claims_of(user.access_token) | {claim: value}
    assert_unauthenticated(await me_with(client, sign(claims, settings.signing_secret())))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
async def test_a_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, settings: Settings, claim: str
) -> None:
    user = await signed_in(client, "dora")
    claims = claims_of(user.access_token)
    del claims[claim]
    assert_unauthenticated(await me_with(client, sign(claims, settings.signing_secret())))


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await signed_in(client, "emil")
    now = int(time.time())
    claims = claims_of(user.access_token) | {"iat": now - 3600, "nbf": now - 3600, "exp": now - 60}
    assert_unauthenticated(await me_with(client, sign(claims, settings.signing_secret())))


async def test_a_not_yet_valid_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "fay")
    now = int(time.time())
    claims = claims_of(user.access_token) | {"nbf": now + 600, "exp": now + 1800}
    assert_unauthenticated(await me_with(client, sign(claims, settings.signing_secret())))


async def test_unknown_or_missing_key_ids_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await signed_in(client, "gus")
    claims = claims_of(user.access_token)
    assert_unauthenticated(await me_with(client, sign(claims, OTHER_SECRET)))
    assert_unauthenticated(await me_with(client, sign(claims, OTHER_SECRET, kid="nope")))
    real = settings.signing_secret()
    assert_unauthenticated(await me_with(client, sign(claims, real, kid="0123456789abcdef")))
    assert_unauthenticated(await me_with(client, sign(claims, real, with_kid=False)))


async def test_a_token_for_another_users_session_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Signed with the real key, but `sub` and `sid` disagree: never a way into someone else.
    hana = await signed_in(client, "hana")
    ivan = await signed_in(client, "ivan")
    claims = claims_of(hana.access_token) | {"sub": str(ivan.user_id)}
    assert_unauthenticated(await me_with(client, sign(claims, settings.signing_secret())))


@pytest.mark.parametrize(
    "authorization",
    ["Basic x", "Bearer", "Bearer ", "Token abc", "bearer", "Basic dXNlcjpwYXNz", "garbage"],
)
async def test_malformed_authorization_headers_are_refused(
    client: httpx.AsyncClient, authorization: str
) -> None:
    assert_unauthenticated(await gql(client, ME, headers={"authorization": authorization}))


@pytest.mark.parametrize("token", ["x", "a.b.c", "not-a-jwt-at-all", "e30.e30.e30"])
async def test_garbage_bearer_tokens_are_refused(client: httpx.AsyncClient, token: str) -> None:
    assert_unauthenticated(await me_with(client, token))


async def test_me_without_a_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    body = await gql(client, ME)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["status"] == 401
    assert error["path"] == ["me"]


# --- key rotation -----------------------------------------------------------------------------

NEW_SECRET = "the-new-secret-that-is-long-enough-for-hs256-signing"


@asynccontextmanager
async def app_client(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[
    httpx.AsyncClient
]:  # fmt: skip
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_tokens_signed_with_a_previous_secret_still_verify(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    user = await signed_in(client, "jade")  # signed with TEST_SECRET
    assert header_of(user.access_token)["kid"] == key_id(TEST_SECRET)

    async with app_client(
        database_url, tmp_path, jwt_secret=NEW_SECRET, jwt_previous_secrets=[TEST_SECRET]
    ) as rotated:
        await assert_me_works(rotated, user, user.access_token)
        body = await gql(rotated, REFRESH, {"input": {"refreshToken": user.refresh_token}})
        assert "errors" not in body, body
        fresh = body["data"]["refreshToken"]
        # New tokens are signed with the new key only.
        assert header_of(fresh["accessToken"])["kid"] == key_id(NEW_SECRET)
        assert header_of(fresh["refreshToken"])["kid"] == key_id(NEW_SECRET)
        await assert_me_works(rotated, user, fresh["accessToken"])

    # The old app does not know the new key: its kid is unknown there.
    assert_unauthenticated(await me_with(client, fresh["accessToken"]))


async def test_a_retired_secret_no_longer_verifies(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    user = await signed_in(client, "kent")
    async with app_client(database_url, tmp_path, jwt_secret=NEW_SECRET) as rotated:
        assert_unauthenticated(await me_with(rotated, user.access_token))
        body = await gql(rotated, REFRESH, {"input": {"refreshToken": user.refresh_token}})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Refusing an unverifiable refresh token did not end the session.
    await assert_me_works(client, user, user.access_token)
