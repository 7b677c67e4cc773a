"""The web console in browser tests: its API seen from the test, and its pages driven by role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.support.identity import STRONG_PASSWORD

ACCOUNTS = """query { me { accounts(first: 10) { edges { node {
  id balance { amount }
  transactions(first: 100) { totalCount edges { node { type amount { amount } } } }
} } } } }"""


def gql(base_url: str, query: str, variables: dict[str, Any] | None = None,
        token: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run one operation over HTTP; fails the test on any error."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables or {}},
        headers=headers, timeout=30,
    )  # fmt: skip
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


@dataclass(frozen=True)
class ApiUser:
    """A user registered through the API, with a session of its own."""

    id: str
    username: str
    token: str


def register(base_url: str, prefix: str = "user") -> str:
    """A new username, registered with STRONG_PASSWORD."""
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    data = gql(base_url, """mutation($input: RegisterInput!) {
      register(input: $input) { user { id } errors { code } } }""",
        {"input": {"username": username, "email": f"{username}@example.com",
                   "password": STRONG_PASSWORD}})  # fmt: skip
    assert data["register"]["errors"] == []
    return username


def login(base_url: str, username: str, password: str = STRONG_PASSWORD) -> ApiUser:
    """A new session of `username`."""
    data = gql(base_url, """mutation($input: LoginInput!) {
      login(input: $input) { accessToken user { id } } }""",
        {"input": {"username": username, "password": password}})  # fmt: skip
    return ApiUser(data["login"]["user"]["id"], username, data["login"]["accessToken"])


def accounts(base_url: str, user: ApiUser) -> list[dict[str, Any]]:
    """The user's accounts, oldest first, with balances and every transaction."""
    edges = gql(base_url, ACCOUNTS, token=user.token)["me"]["accounts"]["edges"]
    return [edge["node"] for edge in edges]


def sign_in(page: Page, username: str, password: str = STRONG_PASSWORD) -> None:
    """Sign in through the console's form and wait for the user bar."""
    form = page.get_by_role("form", name="Sign in")
    form.get_by_label("Username or email", exact=True).fill(username)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Signed-in user", exact=True)).to_contain_text(username)


def open_screen(page: Page, name: str) -> None:
    """Switch to one of the console's screens."""
    page.get_by_role("navigation", name="Screens").get_by_role("button", name=name).click()


def money(text: str) -> Decimal:
    """A formatted amount on screen ("75.50 USD", "+25.00") as a number."""
    return Decimal(text.split(maxsplit=1)[0])


def no_browser_storage(page: Page) -> dict[str, Any]:
    """What the page keeps in browser storage: must stay empty (tokens live in memory only)."""
    result: dict[str, Any] = page.evaluate(
        """async () => ({
          local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
          databases: (await indexedDB.databases()).length,
        })"""
    )
    return result
