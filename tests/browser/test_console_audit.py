"""The console's live audit feed: an auditor sees a transfer's rows as they commit."""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import LiveServer
from tests.support.browser import PageWatch
from tests.support.console import ApiUser, accounts, gql, login, open_screen, register, sign_in
from tests.support.identity import STRONG_PASSWORD
from tests.support.processes import ROOT, ledgerql_command, running_server, server_env

LIVE_FEED_TIMEOUT_MS = 1_000
"""The transfer's rows show in the feed within a second of the transfer's answer."""
ADMIN = "root"
HOLDER = """mutation { createAccountHolder(input: {firstName: "Grace", lastName: "Hopper",
  dateOfBirth: "1985-12-09"}) { errors { code } } }"""
OPEN = """mutation { openAccount(input: {type: CHECKING, currency: "EUR"}) { errors { code } } }"""
DEPOSIT = """mutation($input: MoneyMovementInput!) { deposit(input: $input) { errors { code } } }"""
TRANSFER = """mutation($input: TransferInput!) {
  transfer(input: $input) { transfer { id } errors { code } } }"""
ASSIGN = """mutation($input: RoleGrantInput!) { assignRole(input: $input) { errors { code } } }"""


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own with an admin, made with `ledgerql create-admin` on its database."""
    env = server_env(database_url, tmp_path)
    created = subprocess.run(
        ledgerql_command("create-admin", "--username", ADMIN, "--email", "root@example.com"),
        cwd=ROOT, env={**env, "LEDGERQL_ADMIN_PASSWORD": STRONG_PASSWORD},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with running_server(env, tmp_path / "serve.log") as (_, base_url):
        yield LiveServer(database_url.split("+", 1)[0], base_url, tmp_path / "serve.log")


def customer_with_two_accounts(base_url: str) -> tuple[ApiUser, list[str]]:
    customer = login(base_url, register(base_url, "grace"))
    for operation in (HOLDER, OPEN, OPEN):
        [payload] = gql(base_url, operation, token=customer.token).values()
        assert payload["errors"] == []
    ids = [account["id"] for account in accounts(base_url, customer)]
    deposit = {"accountId": ids[0], "amount": 10_000, "idempotencyKey": "seed"}
    assert gql(base_url, DEPOSIT, {"input": deposit}, customer.token)["deposit"]["errors"] == []
    return customer, ids


def transfer(base_url: str, customer: ApiUser, ids: list[str], key: str) -> str:
    input_ = {"fromAccountId": ids[0], "toAccountId": ids[1], "amount": 250, "idempotencyKey": key}
    payload = gql(base_url, TRANSFER, {"input": input_}, customer.token)["transfer"]
    assert payload["errors"] == []
    return str(payload["transfer"]["id"])


def transfer_uuid(global_id: str) -> str:
    """The row id inside a `Transfer:<uuid>` global id (what audit rows name)."""
    type_name, _, raw = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Transfer"
    return raw


def until_subscribed(page: Page, make_event: Callable[[int], object]) -> None:
    """Make events until the feed shows one, then clear it.

    The protocol does not acknowledge a subscription: rows committed between `connection_ack`
    and the server's start of the subscription are not sent, so the test waits for one first.
    """
    events = page.get_by_role("table", name="Audit events").locator("tbody tr")
    page.get_by_role("button", name="Clear events").click()
    for attempt in range(20):
        make_event(attempt)
        try:
            expect(events).not_to_have_count(0, timeout=500)
        except AssertionError:
            continue
        page.get_by_role("button", name="Clear events").click()
        expect(events).to_have_count(0)
        return
    pytest.fail("the live feed never showed an event")


class DroppableSockets:
    """The page's WebSockets, relayed to the server until `reachable` is false (then refused)."""

    def __init__(self) -> None:
        self.reachable = True
        self.relayed: list[WebSocketRoute] = []
        self.refused = 0

    def route(self, socket: WebSocketRoute) -> None:
        """Relay one socket to the server, or close it at once as if the network were down."""
        if self.reachable:
            socket.connect_to_server()
            self.relayed.append(socket)
        else:
            self.refused += 1
            socket.close(code=1001, reason="network down")

    def drop(self) -> None:
        """Close the socket in use, as a network drop would."""
        self.relayed[-1].close(code=1001, reason="network down")


def wait_until(page: Page, condition: Callable[[], bool]) -> None:
    """Let the page run until `condition` holds (what the test's socket relay saw)."""
    for _ in range(200):
        if condition():
            return
        page.wait_for_timeout(50)
    pytest.fail("the condition never held")


def the_feed_reconnects_after_a_network_drop(page: Page, sockets: DroppableSockets) -> None:
    status = page.get_by_label("Live feed status")
    expect(status).to_have_text("Live feed: connected (entityType=Transfer)")
    sockets.drop()  # retried at once and connected again
    wait_until(page, lambda: len(sockets.relayed) == 2)
    expect(status).to_have_text("Live feed: connected (entityType=Transfer)")
    sockets.reachable = False
    sockets.drop()  # every retry refused: the feed stops after a bounded number of them
    expect(status).to_have_text("Live feed: closed (entityType=Transfer)", timeout=15_000)
    assert sockets.refused == 3
    expect(page.get_by_role("alert").filter(has_text="WS_1001")).to_contain_text("network down")
    sockets.reachable = True
    page.get_by_role("button", name="Reconnect live feed").click()
    expect(status).to_have_text("Live feed: connected (entityType=Transfer)")
    expect(page.get_by_role("button", name="Reconnect live feed")).to_have_count(0)
    assert len(sockets.relayed) == 3


def test_an_auditor_sees_a_transfer_live_filters_the_feed_and_verifies_the_chain(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    base = live_server.base_url
    auditor = login(base, register(base, "auditor"))
    admin = login(base, ADMIN)
    grant = {"userId": auditor.id, "role": "auditor"}
    assert gql(base, ASSIGN, {"input": grant}, admin.token)["assignRole"]["errors"] == []
    customer, ids = customer_with_two_accounts(base)

    sockets = DroppableSockets()
    page.route_web_socket(re.compile(r"/graphql$"), sockets.route)
    page.goto("/")
    sign_in(page, auditor.username)
    open_screen(page, "Audit")
    status = page.get_by_label("Live feed status")
    expect(status).to_have_text("Live feed: connected")
    events = page.get_by_role("table", name="Audit events").locator("tbody tr")
    until_subscribed(page, lambda _attempt: login(base, customer.username))
    transfer_id = transfer(base, customer, ids, "first")
    created = events.filter(has_text="Transfer").filter(has_text="CREATE")
    expect(created).to_have_count(1, timeout=LIVE_FEED_TIMEOUT_MS)
    expect(created).to_contain_text(customer.username)
    expect(created).to_contain_text(transfer_uuid(transfer_id))

    expect(events.filter(has_not_text="Transfer")).not_to_have_count(0)  # the account updates
    page.get_by_label("Entity type", exact=True).fill("Transfer")
    page.get_by_role("button", name="Apply filters").click()
    expect(status).to_have_text("Live feed: connected (entityType=Transfer)")
    expect(events.filter(has_not_text="Transfer")).to_have_count(0)  # the old filter's rows go
    until_subscribed(page, lambda attempt: transfer(base, customer, ids, f"warm-up-{attempt}"))
    second = events.filter(has_text=transfer_uuid(transfer(base, customer, ids, "second")))
    expect(second).to_have_count(1, timeout=LIVE_FEED_TIMEOUT_MS)
    expect(second).to_contain_text(re.compile(r"CREATE\s*Transfer"))
    expect(events.filter(has_not_text="Transfer")).to_have_count(0)  # the filter holds
    expect(second).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC"))
    the_feed_reconnects_after_a_network_drop(page, sockets)

    page.get_by_role("button", name="Verify audit chain").click()
    expect(
        page.get_by_role("region", name="Chain verification").get_by_role("status")
    ).to_contain_text("Chain valid: ")
    assert page_watch.problems() == {}
