"""Helpers for identity tests: register, sign in, grant roles, call with a token."""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import httpx
import pytest

from auth import passwords
from auth.service import AuthService
from db.models import User
from db.services import identity as identity_service
from db.session import Database
from db.unit_of_work import UnitOfWork

STRONG_PASSWORD = "Corr3ct-Horse!Battery"

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { user { id username email isAdmin } errors { code message field } }
}
"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    accessToken refreshToken tokenType expiresIn refreshExpiresIn user { id username }
  }
}
"""


@dataclass
class SignedIn:
    """A registered user with a live session."""

    user_id: uuid.UUID
    global_id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


def user_uuid(global_id: str) -> uuid.UUID:
    """The UUID inside a `User:<uuid>` global id."""
    type_name, _, raw = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "User"
    return uuid.UUID(raw)


def global_id(type_name: str, raw: uuid.UUID | str) -> str:
    """The opaque global id of an object."""
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST an operation, optionally with a bearer token; returns the JSON body."""
    all_headers = dict(headers or {})
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
    )
    body: dict[str, Any] = response.json()
    return body


async def register(
    client: httpx.AsyncClient,
    username: str,
    *,
    email: str | None = None,
    password: str = STRONG_PASSWORD,
    full_name: str = "",
) -> dict[str, Any]:
    """Register and return the `register` payload (asserting the operation ran)."""
    body = await gql(
        client,
        REGISTER,
        {"input": {"username": username, "email": email or f"{username}@example.com",
                   "password": password, "fullName": full_name}},
    )  # fmt: skip
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["register"]
    return payload


async def login(client: httpx.AsyncClient, login_name: str, password: str) -> dict[str, Any]:
    """Run the login mutation and return the whole response body."""
    return await gql(client, LOGIN, {"input": {"username": login_name, "password": password}})


async def signed_in(
    client: httpx.AsyncClient, username: str, *, password: str = STRONG_PASSWORD
) -> SignedIn:
    """Register a user and sign them in."""
    payload = await register(client, username, password=password)
    assert payload["errors"] == [], payload
    body = await login(client, username, password)
    assert "errors" not in body, body
    tokens = body["data"]["login"]
    gid = payload["user"]["id"]
    return SignedIn(
        user_id=user_uuid(gid), global_id=gid, username=username,
        email=f"{username}@example.com", password=password,
        access_token=tokens["accessToken"], refresh_token=tokens["refreshToken"],
    )  # fmt: skip


async def grant_role(database: Database, user_id: uuid.UUID, role: str) -> None:
    """Give a user a role directly through the service layer (no permission check)."""
    async with database.unit_of_work() as uow, uow.write() as transaction:
        await identity_service.assign_role(transaction, user_id, role)


async def register_directly(
    auth: AuthService, uow: UnitOfWork, username: str, *, email: str, password: str, full_name: str
) -> User:
    """Register a user through the service layer, in a write transaction of its own."""
    new_user = await auth.credentials.prepare_registration(
        uow, username=username, email=email, password=password, full_name=full_name
    )
    async with uow.write() as transaction:
        return await auth.credentials.finish_registration(transaction, new_user)


async def signed_in_with_role(
    client: httpx.AsyncClient, database: Database, username: str, role: str
) -> SignedIn:
    """A signed-in user holding `role` (granted before sign-in, so the token carries it)."""
    user = await signed_in(client, username)
    await grant_role(database, user.user_id, role)
    return user


def count_bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record the password of every bcrypt check from now on (from any hashing thread)."""
    checks: list[bytes] = []
    lock = threading.Lock()
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        with lock:
            checks.append(password)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)
    return checks
