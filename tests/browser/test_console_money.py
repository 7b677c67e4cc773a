"""The console's money flow in a browser: sign-up to statement, cards and sessions, on-origin."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import httpx
from playwright.sync_api import Locator, Page, Request, Route, expect

from tests.browser.conftest import LiveServer
from tests.support.browser import PageWatch
from tests.support.console import (
    accounts,
    gql,
    login,
    money,
    no_browser_storage,
    open_screen,
)
from tests.support.identity import STRONG_PASSWORD

DEPOSIT = """mutation($input: MoneyMovementInput!) { deposit(input: $input) { errors { code } } }"""
ME = "query { me { id } }"
HOSTILE = "<img src=x onerror=alert(1)>"
"""Markup in a server string (a transaction's description): must show as text."""


def sign_up_with_holder_and_two_accounts(page: Page, username: str) -> None:
    form = page.get_by_role("form", name="Sign up")
    form.get_by_label("New username", exact=True).fill(username)
    form.get_by_label("Email", exact=True).fill(f"{username}@example.com")
    form.get_by_label("Full name", exact=True).fill("Ada Lovelace")
    form.get_by_label("New password", exact=True).fill(STRONG_PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    holder = page.get_by_role("form", name="Create holder")
    holder.get_by_label("First name", exact=True).fill("Ada")
    holder.get_by_label("Last name", exact=True).fill("Lovelace")
    holder.get_by_label("Date of birth", exact=True).fill("1990-01-02")
    holder.get_by_role("button", name="Create holder").click()
    for number in (1, 2):
        page.get_by_role("button", name="Open account").click()
        expect(page.get_by_test_id(f"balance-{number}")).to_have_text("0.00 USD")


def move_money(page: Page) -> None:
    deposit = page.get_by_role("form", name="Deposit")
    deposit.get_by_label("Deposit account", exact=True).select_option(label="#1 CHECKING USD")
    amount = deposit.get_by_label("Deposit amount", exact=True)
    for balance in ("50.25 USD", "100.50 USD"):  # the same deposit twice, on purpose: both count
        amount.fill("50.25")
        deposit.get_by_role("button", name="Deposit").click()
        expect(page.get_by_test_id("balance-1")).to_have_text(balance)
        expect(amount).to_have_value("")
    transfer = page.get_by_role("form", name="Transfer")
    transfer.get_by_label("From account", exact=True).select_option(label="#1 CHECKING USD")
    transfer.get_by_label("To account", exact=True).select_option(label="#2 CHECKING USD")
    transfer.get_by_label("Transfer amount", exact=True).fill("25")
    transfer.get_by_role("button", name="Transfer").dblclick()  # one transfer
    expect(transfer.get_by_role("status")).to_contain_text("Transferred 25.00 USD")
    expect(page.get_by_test_id("balance-1")).to_have_text("75.50 USD")
    expect(page.get_by_test_id("balance-2")).to_have_text("25.00 USD")
    withdraw = page.get_by_role("form", name="Withdraw")
    withdraw.get_by_label("Withdraw account", exact=True).select_option(label="#2 CHECKING USD")
    withdraw.get_by_label("Withdraw amount", exact=True).fill("99999999999999999")
    withdraw.get_by_role("button", name="Withdraw").click()
    expect(withdraw.get_by_role("alert")).to_contain_text("This amount is too large.")
    withdraw.get_by_label("Withdraw amount", exact=True).fill("1000")
    keys: list[str] = []
    for _ in range(2):  # an answer received (here a refusal): sent again, it is a new request
        with page.expect_response("**/graphql") as answered:
            withdraw.get_by_role("button", name="Withdraw").click()
        keys.append(answered.value.request.post_data_json["variables"]["input"]["idempotencyKey"])
        refused = withdraw.get_by_role("alert")
        expect(refused).to_contain_text("INSUFFICIENT_FUNDS")
        expect(refused).to_contain_text(re.compile(r"request id [0-9a-f]{32}"))
    assert keys[0] != keys[1]
    a_lost_answer_is_retried_with_the_same_key(page, transfer)


def a_lost_answer_is_retried_with_the_same_key(page: Page, transfer: Locator) -> None:
    """The server moves the money but its answer never arrives: the retry is answered, once."""
    sent: list[str] = []

    def lose_the_answer(route: Route) -> None:
        sent.append(route.request.post_data_json["variables"]["input"]["idempotencyKey"])
        route.fetch()  # the server handles it...
        route.abort("failed")  # ...and the page never hears back

    transfer.get_by_label("Transfer amount", exact=True).fill("5")
    page.route("**/graphql", lose_the_answer)
    transfer.get_by_role("button", name="Transfer").click()
    expect(transfer.get_by_role("alert")).to_contain_text("NETWORK_ERROR")
    page.unroute("**/graphql")
    with page.expect_response("**/graphql") as answered:
        transfer.get_by_role("button", name="Transfer").click()
    assert answered.value.request.post_data_json["variables"]["input"]["idempotencyKey"] == sent[0]
    expect(transfer.get_by_role("status")).to_contain_text("Transferred 5.00 USD")
    expect(page.get_by_test_id("balance-1")).to_have_text("70.50 USD")
    expect(page.get_by_test_id("balance-2")).to_have_text("30.00 USD")
    assert len(sent) == 1


def page_through_transactions(page: Page) -> None:
    page.get_by_role("button", name="Reload accounts").click()
    expect(page.get_by_test_id("balance-1")).to_have_text("91.50 USD")
    fetched: list[Request] = []
    page.on("request", lambda request: fetched.append(request)
            if "query Transactions" in (request.post_data or "") else None)  # fmt: skip
    page.get_by_role("button", name="Transactions of #1 CHECKING USD").click()
    history = page.get_by_role("region", name="Transactions of #1 CHECKING USD")
    rows = history.get_by_role("table", name="Transactions").locator("tbody tr")
    expect(history).to_contain_text("10 transactions; page 1.")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text(f"D6 {HOSTILE}")  # newest first, shown as text
    assert len(fetched) == 1  # the first page, once
    history.get_by_role("button", name="Next page").click()
    expect(history).to_contain_text("page 2.")
    expect(rows).to_have_count(5)
    expect(rows.last).to_contain_text("DEPOSIT")  # the first deposit, oldest
    expect(history.get_by_role("button", name="Next page")).to_be_disabled()
    history.get_by_role("button", name="Previous page").click()
    expect(history).to_contain_text("page 1.")
    expect(rows.first).to_contain_text("D6")


def statement_adds_up(page: Page) -> None:
    open_screen(page, "Statement")
    range_form = page.get_by_role("form", name="Statement range")
    range_form.get_by_label("Statement account", exact=True).select_option(label="#1 CHECKING USD")
    range_form.get_by_role("button", name="Show statement").click()
    statement = page.get_by_role("region", name="Statement", exact=True)
    expect(statement.get_by_label("Closing balance")).to_have_text("91.50")
    lines = statement.get_by_role("table", name="Statement lines").locator("tbody tr")
    expect(lines).to_have_count(10)
    expect(lines.filter(has_text=f"D6 {HOSTILE}")).to_have_count(1)
    amounts = [money(text) for text in lines.locator("td:nth-child(3)").all_inner_texts()]
    opening = money(statement.get_by_label("Opening balance").inner_text())
    closing = money(statement.get_by_label("Closing balance").inner_text())
    assert opening == Decimal("0.00")
    assert opening + sum(amounts) == closing
    moved = ["50.25", "50.25", "-25.00", "-5.00", *(f"{n}.00" for n in range(1, 7))]
    assert sorted(amounts) == sorted(Decimal(amount) for amount in moved)


def cards_are_issued_frozen_and_cancelled(page: Page) -> None:
    open_screen(page, "Cards")
    issue = page.get_by_role("form", name="Issue card")
    issue.get_by_label("Card account", exact=True).select_option(label="#1 CHECKING USD")
    issue.get_by_role("button", name="Issue card").click()
    secret = page.get_by_role("region", name="New card details")
    number = secret.get_by_label("Card number").inner_text()
    assert number.isdigit()
    assert len(number) == 16
    assert secret.get_by_label("Security code").inner_text().isdigit()
    issue.get_by_label("Card account", exact=True).select_option(label="#2 CHECKING USD")
    expect(secret).to_have_count(0)  # another account: the new card's secrets are dropped
    assert number not in page.content()
    issue.get_by_role("button", name="Issue card").click()
    other = secret.get_by_label("Card number").inner_text()
    secret.get_by_role("button", name="I have noted them").click()
    expect(secret).to_have_count(0)
    assert other not in page.content()
    issue.get_by_label("Card account", exact=True).select_option(label="#1 CHECKING USD")
    row = page.get_by_role("row", name=f"Card ending {number[-4:]}")
    expect(row).to_contain_text("ACTIVE")
    row.get_by_role("button", name="Freeze").click()
    expect(row).to_contain_text("FROZEN")
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("CANCELLED")
    expect(row.get_by_role("button")).to_have_count(0)


def sessions_are_revocable(page: Page, base_url: str, other_token: str) -> None:
    open_screen(page, "Sessions")
    sessions = page.get_by_role("table", name="Sessions").locator("tbody tr")
    expect(sessions).to_have_count(2)
    other = sessions.filter(has_not_text="(this one)")
    other.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("(this one)")
    headers = {"authorization": f"Bearer {other_token}"}
    revoked = httpx.post(f"{base_url}/graphql", json={"query": ME}, headers=headers).json()
    assert revoked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_money_moves_once_balances_update_and_the_statement_adds_up(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    base = live_server.base_url
    page.goto("/")
    username = f"ada{uuid.uuid4().hex[:10]}"
    sign_up_with_holder_and_two_accounts(page, username)
    assert no_browser_storage(page) == {"local": 0, "session": 0, "cookie": "", "databases": 0}
    expect(page.get_by_role("navigation", name="Screens").get_by_role("button")).to_have_text(
        ["Accounts", "Cards", "Statement", "Sessions"]
    )  # no audit screen without `audit:read`
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    move_money(page)

    api = login(base, username)
    first, second = accounts(base, api)
    assert (first["balance"]["amount"], second["balance"]["amount"]) == (7050, 3000)
    assert [edge["node"]["type"] for edge in first["transactions"]["edges"]] == [
        *("TRANSFER_OUT", "TRANSFER_OUT", "DEPOSIT", "DEPOSIT")
    ]
    assert second["transactions"]["totalCount"] == 2
    for amount in range(1, 7):
        description = f"D{amount} {HOSTILE}" if amount == 6 else f"D{amount}"
        input_ = {"accountId": first["id"], "amount": amount * 100,
                  "idempotencyKey": f"api-{amount}", "description": description}  # fmt: skip
        assert gql(base, DEPOSIT, {"input": input_}, api.token)["deposit"]["errors"] == []
    page_through_transactions(page)
    statement_adds_up(page)
    cards_are_issued_frozen_and_cancelled(page)
    sessions_are_revocable(page, base, api.token)

    assert dialogs == []  # the server's strings are text: no markup ran...
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0  # ...or was made

    assert no_browser_storage(page) == {"local": 0, "session": 0, "cookie": "", "databases": 0}
    assert page_watch.problems() == {
        "console_errors": ["Failed to load resource: net::ERR_FAILED"]  # the answer made lost
    }
