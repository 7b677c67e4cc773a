"""Sign-up (password policy, uniqueness, formats) and sign-in (tokens, sessions, failures)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from auth import passwords
from auth.passwords import common_passwords
from db.base import utcnow
from db.models import AuthSession, User
from db.session import Database
from tests.support.identity import (
    LOGIN,
    REGISTER,
    STRONG_PASSWORD,
    count_bcrypt_checks,
    gql,
    login,
    register,
    signed_in,
)
from tests.support.logs import capture_logs

ME_SESSIONS = "{ me { id username lastLoginAt sessions { id current userAgent ipAddress } } }"
INVALID_MESSAGE = "Invalid username or password."


def register_input(
    username: str, password: str, email: str | None = None, full_name: str = ""
) -> dict[str, Any]:
    return {
        "input": {
            "username": username,
            "email": email or f"{username}@example.com",
            "password": password,
            "fullName": full_name,
        }
    }


def weak(*messages: str, field: str = "password") -> list[dict[str, Any]]:
    """The payload errors for the given unmet password rules, in the policy's order."""
    return [
        {"code": "WEAK_PASSWORD", "message": f"Password {message}.", "field": ["input", field]}
        for message in messages
    ]


async def count_users(database: Database, **where: str) -> int:
    """How many users (deleted ones included) have the given username and/or email."""
    statement = select(func.count()).select_from(User)
    for column, value in where.items():
        statement = statement.where(getattr(User, column) == value)
    async with database.unit_of_work() as uow, uow.read() as session:
        return int((await session.execute(statement)).scalar_one())


async def count_sessions(database: Database) -> int:
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(func.count()).select_from(AuthSession)
        return int((await session.execute(statement)).scalar_one())


def single_error(body: dict[str, Any]) -> dict[str, Any]:
    """The only top-level error of a response body."""
    assert "errors" in body, body
    [error] = body["errors"]
    return error


# --- register: the password policy ------------------------------------------------------------


def test_the_common_password_used_below_meets_every_composition_rule() -> None:
    # 'P@ssw0rd' has upper, lower, digit and special characters and 8 characters: only the
    # common-password rule can refuse it.
    assert "p@ssw0rd" in common_passwords()
    problems = passwords.password_problems("P@ssw0rd", username="someone", email="s@example.com")
    assert [problem.message for problem in problems] == ["Password is too common."]


@pytest.mark.parametrize(
    ("password", "messages"),
    [
        ("Sh0rt!x", ["must be at least 8 characters long"]),
        ("no-upper-case-1", ["must contain an uppercase letter"]),
        ("NO-LOWER-CASE-1", ["must contain a lowercase letter"]),
        ("No-Digits-At-All", ["must contain a digit"]),
        ("NoSpecial1234", ["must contain a special character"]),
        ("P@ssw0rd", ["is too common"]),
        (
            "abc",
            [
                "must be at least 8 characters long",
                "must contain an uppercase letter",
                "must contain a digit",
                "must contain a special character",
            ],
        ),
    ],
)
async def test_register_refuses_each_unmet_password_rule(
    client: httpx.AsyncClient, database: Database, password: str, messages: list[str]
) -> None:
    body = await gql(client, REGISTER, register_input("weakling", password))
    assert "errors" not in body, body
    assert body["data"]["register"] == {"user": None, "errors": weak(*messages)}
    assert await count_users(database, username="weakling") == 0


async def test_register_refuses_more_than_72_utf8_bytes_without_truncating(
    client: httpx.AsyncClient, database: Database
) -> None:
    # 38 characters, 72 bytes: the longest allowed (34 different letters: repeats are guessable)
    at_limit = "Aa1!" + "ßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿœš"
    over_limit = at_limit + "x"  # 73 bytes
    assert len(at_limit.encode()) == 72
    assert len(over_limit.encode()) == 73

    body = await gql(client, REGISTER, register_input("longpass", over_limit))
    assert "errors" not in body, body  # never a 500
    assert body["data"]["register"] == {
        "user": None,
        "errors": weak("must be at most 72 bytes in UTF-8"),
    }
    assert await count_users(database, username="longpass") == 0

    # 37 two-byte characters then 'a1!' (77 bytes, and no ASCII capital).
    body = await gql(client, REGISTER, register_input("longpass", "É" * 37 + "a1!"))
    assert "errors" not in body, body
    assert body["data"]["register"]["errors"] == weak(
        "must be at most 72 bytes in UTF-8", "must contain an uppercase letter"
    )
    assert await count_users(database, username="longpass") == 0

    # Exactly 72 bytes is fine, and the byte after it is never ignored at sign-in.
    payload = await register(client, "longpass", password=at_limit)
    assert payload["errors"] == []
    assert "errors" not in await login(client, "longpass", at_limit)
    beyond = await login(client, "longpass", over_limit)
    assert single_error(beyond)["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert single_error(beyond)["message"] == INVALID_MESSAGE


async def test_register_refuses_passwords_containing_the_username_or_email(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await gql(client, REGISTER, register_input("alice99", "xALICE99!Zz"))
    assert body["data"]["register"] == {
        "user": None,
        "errors": weak("must not contain your username"),
    }
    body = await gql(client, REGISTER, register_input("zorro_u", "Zed@Ex.io#42", email="zed@ex.io"))
    assert body["data"]["register"] == {"user": None, "errors": weak("must not contain your email")}
    assert await count_users(database, username="alice99") == 0
    assert await count_users(database, username="zorro_u") == 0


# --- register: uniqueness and formats ---------------------------------------------------------


async def test_register_creates_a_user_that_can_sign_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    payload = await register(client, "newcomer", email="New.Comer@Example.COM")
    assert payload["errors"] == []
    assert payload["user"]["username"] == "newcomer"
    assert payload["user"]["email"] == "new.comer@example.com"
    assert payload["user"]["isAdmin"] is False
    assert await count_users(database, username="newcomer") == 1


async def test_register_refuses_a_taken_username(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await register(client, "ann"))["errors"] == []
    body = await gql(client, REGISTER, register_input("ann", STRONG_PASSWORD, "other@example.com"))
    assert body["data"]["register"] == {
        "user": None,
        "errors": [
            {
                "code": "CONFLICT",
                "message": "That username is already taken.",
                "field": ["input", "username"],
            }
        ],
    }
    assert await count_users(database, username="ann") == 1
    assert await count_users(database, email="other@example.com") == 0


async def test_register_refuses_a_taken_email_in_any_case(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await register(client, "ann", email="ann@example.com"))["errors"] == []
    body = await gql(client, REGISTER, register_input("ann2", STRONG_PASSWORD, "Ann@Example.com"))
    assert body["data"]["register"] == {
        "user": None,
        "errors": [
            {
                "code": "CONFLICT",
                "message": "That email is already taken.",
                "field": ["input", "email"],
            }
        ],
    }
    assert await count_users(database, email="ann@example.com") == 1
    assert await count_users(database, username="ann2") == 0


BAD_USERNAME = "Username must be 3-50 letters, digits, dots, dashes or underscores."


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"username": "a b"}, ("username", BAD_USERNAME)),
        ({"username": "ab"}, ("username", BAD_USERNAME)),
        ({"email": "not-an-email"}, ("email", "Email is not valid.")),
        ({"email": "two@@example.com"}, ("email", "Email is not valid.")),
    ],
)
async def test_register_refuses_malformed_usernames_and_emails(
    client: httpx.AsyncClient,
    database: Database,
    fields: dict[str, str],
    expected: tuple[str, str],
) -> None:
    variables = register_input("valid_name", STRONG_PASSWORD, "valid@example.com")
    variables["input"].update(fields)
    body = await gql(client, REGISTER, variables)
    field, message = expected
    assert body["data"]["register"] == {
        "user": None,
        "errors": [{"code": "VALIDATION_FAILED", "message": message, "field": ["input", field]}],
    }
    assert await count_users(database) == 0


# --- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("login_name", ["carol", "carol@example.com", "CAROL@Example.Com"])
async def test_login_by_username_or_email_opens_a_session(
    client: httpx.AsyncClient, database: Database, login_name: str
) -> None:
    registered = await register(client, "carol")
    async with database.unit_of_work() as uow, uow.read() as session:
        user = (await session.execute(select(User).where(User.username == "carol"))).scalar_one()
        assert user.last_login_at is None
    before = utcnow()

    body = await gql(
        client,
        LOGIN,
        {"input": {"username": login_name, "password": STRONG_PASSWORD}},
        headers={"user-agent": "LedgerQL-Test/1.0"},
    )
    assert "errors" not in body, body
    tokens = body["data"]["login"]
    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == 1800
    assert tokens["refreshExpiresIn"] == 604800
    assert tokens["accessToken"].count(".") == 2
    assert tokens["refreshToken"].count(".") == 2
    assert tokens["accessToken"] != tokens["refreshToken"]
    assert tokens["user"] == {"id": registered["user"]["id"], "username": "carol"}

    me = await gql(client, ME_SESSIONS, token=tokens["accessToken"])
    assert "errors" not in me, me
    assert me["data"]["me"]["id"] == registered["user"]["id"]
    [session_view] = me["data"]["me"]["sessions"]
    assert session_view["current"] is True
    assert session_view["userAgent"] == "LedgerQL-Test/1.0"
    assert session_view["ipAddress"] == "127.0.0.1"
    assert me["data"]["me"]["lastLoginAt"] is not None
    last_login = me["data"]["me"]["lastLoginAt"]
    assert last_login.endswith(("Z", "+00:00"))
    seen = datetime.fromisoformat(last_login)
    assert before - timedelta(seconds=1) <= seen <= utcnow()


async def test_each_login_opens_its_own_session(client: httpx.AsyncClient) -> None:
    first = await signed_in(client, "dave")
    second = (await login(client, "dave", STRONG_PASSWORD))["data"]["login"]
    body = await gql(client, ME_SESSIONS, token=second["accessToken"])
    sessions = body["data"]["me"]["sessions"]
    assert len(sessions) == 2
    assert sorted(s["current"] for s in sessions) == [False, True]
    first_view = await gql(client, ME_SESSIONS, token=first.access_token)
    assert {s["id"] for s in first_view["data"]["me"]["sessions"]} == {s["id"] for s in sessions}


async def test_wrong_password_and_unknown_user_fail_alike(
    client: httpx.AsyncClient, database: Database
) -> None:
    await register(client, "erin")
    wrong = await login(client, "erin", STRONG_PASSWORD + "x")
    unknown = await login(client, "nobody-here", STRONG_PASSWORD)
    unknown_email = await login(client, "nobody@example.com", STRONG_PASSWORD)
    for body in (wrong, unknown, unknown_email):
        assert body["data"] is None, body  # `login` is non-null, so its failure nulls `data`
        error = single_error(body)
        assert error["message"] == INVALID_MESSAGE
        assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
        assert error["extensions"]["status"] == 401
        assert error["path"] == ["login"]

    def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
        error = dict(single_error(body))
        error["extensions"] = {k: v for k, v in error["extensions"].items() if k != "requestId"}
        return error

    assert without_request_id(wrong) == without_request_id(unknown)
    assert without_request_id(wrong) == without_request_id(unknown_email)
    assert await count_sessions(database) == 0


async def test_unknown_users_cost_one_bcrypt_check_like_known_ones(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "frank")
    calls = count_bcrypt_checks(monkeypatch)

    body = await login(client, "nobody-at-all", "Some-Guess1!")
    assert single_error(body)["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert calls == [b"Some-Guess1!"]

    calls.clear()
    body = await login(client, "frank", "Some-Guess1!")
    assert single_error(body)["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert calls == [b"Some-Guess1!"]

    calls.clear()
    body = await login(client, "nobody-else", "Another-Guess2!")
    assert single_error(body)["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert calls == [b"Another-Guess2!"]

    calls.clear()
    assert "errors" not in await login(client, "frank", STRONG_PASSWORD)
    assert calls == [STRONG_PASSWORD.encode()]


async def test_logs_never_contain_the_password_or_tokens(client: httpx.AsyncClient) -> None:
    password = "Unique-Secret-Pa55!"
    with capture_logs() as logs:
        assert (await register(client, "gina", password=password))["errors"] == []
        body = await login(client, "gina", password)
        tokens = body["data"]["login"]
        await gql(client, "{ me { id } }", token=tokens["accessToken"])
        refreshed = await gql(
            client,
            "mutation R($input: RefreshTokenInput!) { refreshToken(input: $input) "
            "{ accessToken refreshToken } }",
            {"input": {"refreshToken": tokens["refreshToken"]}},
        )
        failed = await login(client, "gina", password + "-wrong")
    assert single_error(failed)["extensions"]["code"] == "INVALID_CREDENTIALS"
    new_tokens = refreshed["data"]["refreshToken"]
    assert len(logs.events("request")) == 5
    secrets = [
        password,
        password + "-wrong",
        tokens["accessToken"],
        tokens["refreshToken"],
        new_tokens["accessToken"],
        new_tokens["refreshToken"],
    ]
    for secret in secrets:
        assert secret not in logs.text
        # Not even the signature part of a token.
        assert secret.rsplit(".", 1)[-1] not in logs.text
