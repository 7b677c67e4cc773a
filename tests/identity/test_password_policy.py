"""Guessable passwords are refused at sign-up and at a password change, over HTTP.

Common passwords dressed up with capitals, added digits and symbols or look-alike characters
pass every composition rule; the policy reads them back and refuses them with WEAK_PASSWORD and
a message that says why, and nothing is created or changed.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from db.models import User
from db.session import Database
from tests.identity.test_register_login import count_users, register_input
from tests.identity.test_session_lifecycle import CHANGE_PASSWORD
from tests.support.identity import REGISTER, STRONG_PASSWORD, gql, login, register, signed_in

DISGUISED = ["Password123!", "Welcome1!", "Qwerty123!", "P@ssw0rd2024!", "Summer2026!!"]
COMMON_MESSAGE = (
    "Password is a common password with only digits, symbols, capitals or look-alike characters "
    "(such as @ for a) added; choose a longer passphrase of uncommon words."
)
PASSPHRASES = ["Violet-Tugboat-Quarry-88", "correct horse battery staple 9!X", "Orbit&Lantern+Fig7"]


async def password_hash_of(database: Database, username: str) -> str:
    """The stored bcrypt hash of a user's password."""
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(User.password_hash).where(User.username == username)
        return str((await session.execute(statement)).scalar_one())


@pytest.mark.parametrize("password", DISGUISED)
async def test_register_refuses_a_disguised_common_password(
    client: httpx.AsyncClient, database: Database, password: str
) -> None:
    body = await gql(client, REGISTER, register_input("weakling", password))
    assert "errors" not in body, body
    assert body["data"]["register"] == {
        "user": None,
        "errors": [
            {"code": "WEAK_PASSWORD", "message": COMMON_MESSAGE, "field": ["input", "password"]}
        ],
    }
    assert await count_users(database, username="weakling") == 0


async def test_change_password_refuses_each_disguised_common_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "kim")
    stored = await password_hash_of(database, "kim")
    for password in DISGUISED:
        variables = {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": password}}
        body = await gql(client, CHANGE_PASSWORD, variables, token=user.access_token)
        assert body["data"]["changePassword"] == {
            "user": None,
            "errors": [
                {"code": "WEAK_PASSWORD", "message": COMMON_MESSAGE,
                 "field": ["input", "newPassword"]}
            ],
        }, password  # fmt: skip
    assert await password_hash_of(database, "kim") == stored
    assert "errors" not in await login(client, "kim", STRONG_PASSWORD)


def code_of_login(body: dict[str, object]) -> str | None:
    """The top-level error code of a login response, None when it signed in."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return None
    return str(errors[0]["extensions"]["code"])


async def test_a_password_built_from_the_full_name_is_refused_with_zxcvbn_feedback(
    client: httpx.AsyncClient, database: Database
) -> None:
    variables = register_input("xqm", "Xavrelt99!", full_name="Xavrelt Quombly")
    body = await gql(client, REGISTER, variables)
    [error] = body["data"]["register"]["errors"]
    assert error == {
        "code": "WEAK_PASSWORD",
        "message": "Password is too easy to guess. Add another word or two. "
        "Uncommon words are better.",
        "field": ["input", "password"],
    }
    assert await count_users(database, username="xqm") == 0
    # The same password is fine for someone else: only this user's name makes it guessable.
    assert (await register(client, "zed", password="Xavrelt99!"))["errors"] == []


@pytest.mark.parametrize("password", PASSPHRASES)
async def test_strong_passphrases_are_accepted(
    client: httpx.AsyncClient, database: Database, password: str
) -> None:
    assert (await register(client, "strong", password=password))["errors"] == []
    assert code_of_login(await login(client, "strong", password)) is None
    user = await signed_in(client, "changer")
    variables = {"input": {"currentPassword": STRONG_PASSWORD, "newPassword": password}}
    body = await gql(client, CHANGE_PASSWORD, variables, token=user.access_token)
    assert body["data"]["changePassword"]["errors"] == []
    assert code_of_login(await login(client, "changer", password)) is None
