"""The console's access tokens: the countdown, the refresh prompt, several users side by side."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import BackendServers, LiveServer
from tests.support.browser import PageWatch
from tests.support.console import gql, login, no_browser_storage, open_screen, register, sign_in

UNAVAILABLE = {
    "errors": [{"message": "The service is unavailable.", "extensions": {
        "code": "UNAVAILABLE", "status": 503, "retryAfter": 1, "requestId": "outage-request-1"}}],
    "extensions": {"requestId": "outage-request-1"},
}  # fmt: skip
"""What the server answers when its database is down (docs/api.md, "HTTP status")."""
SESSIONS = "query { me { sessions { id current } } }"
LOGOUT = "mutation { logout { revokedSessions } }"
ACCESS_TOKEN_TTL_SECONDS = 8
"""Short enough to wait for; the prompt shows at half of it, the token expires at the end."""


@pytest.fixture
def live_server(app_servers: BackendServers) -> LiveServer:
    """This backend's server whose access tokens live a few seconds."""
    return app_servers.get(ACCESS_TOKEN_TTL_SECONDS=str(ACCESS_TOKEN_TTL_SECONDS))


def sessions_screen(page: Page) -> Locator:
    """The Sessions screen (its alerts, not the user bar's refresh prompt)."""
    return page.get_by_role("region", name="Sessions screen")


def live_sessions(base_url: str, username: str) -> int:
    """How many sessions of `username` are live, not counting the one opened (and ended) to ask."""
    user = login(base_url, username)
    sessions = gql(base_url, SESSIONS, token=user.token)["me"]["sessions"]
    assert gql(base_url, LOGOUT, token=user.token)["logout"]["revokedSessions"] == 1
    return len(sessions) - 1


def refused_as_expired(page: Page) -> None:
    """Reload until the server refuses the token (it allows a few seconds of clock skew)."""
    refused = sessions_screen(page).get_by_role("alert").filter(has_text="UNAUTHENTICATED")
    for _ in range(80):
        page.get_by_role("button", name="Reload sessions").click()
        try:
            expect(refused).to_be_visible(timeout=250)
        except AssertionError:
            continue
        expect(refused).to_contain_text(re.compile(r"request id [0-9a-f]{32}"))
        return
    pytest.fail("the expired access token was never refused")


def a_module_that_fails_to_load_is_reported(page: Page) -> None:
    """A missing module: the start-up watchdog (a classic script) says so, no endless Loading."""
    page.route("**/console/js/screens/cards.js", lambda route: route.fulfill(status=404))
    page.goto("/")
    fatal = page.locator("#fatal")
    expect(fatal).to_contain_text("The console could not start: a script failed to load")
    expect(fatal).to_contain_text("/console/js/main.js")
    page.unroute("**/console/js/screens/cards.js")


def outage_and_network_failure_are_explained(page: Page) -> None:
    """An UNAVAILABLE answer and a request that never got one, each with a clear message."""
    open_screen(page, "Sessions")
    expect(page.get_by_role("table", name="Sessions")).to_be_visible()
    refused = sessions_screen(page).get_by_role("alert")
    page.route("**/graphql", lambda route: route.fulfill(status=503, json=UNAVAILABLE,
               headers={"retry-after": "1"}))  # fmt: skip
    page.get_by_role("button", name="Reload sessions").click()
    expect(refused).to_contain_text("UNAVAILABLE")
    expect(refused).to_contain_text("The service is unavailable right now")
    expect(refused).to_contain_text("Try again in 1 s.")
    expect(refused).to_contain_text("request id outage-request-1")
    page.unroute("**/graphql")
    page.route("**/graphql", lambda route: route.abort("failed"))
    page.get_by_role("button", name="Reload sessions").click()
    expect(refused).to_contain_text("NETWORK_ERROR")
    expect(refused).to_contain_text("The server cannot be reached.")
    page.unroute("**/graphql")
    page.get_by_role("button", name="Reload sessions").click()
    expect(refused).to_have_count(0)


def a_failed_sign_out_keeps_the_user(page: Page, username: str) -> None:
    """Sign-out without an answer: still signed in, told why; the retry ends the session."""
    page.route("**/graphql", lambda route: route.abort("failed"))
    page.get_by_role("button", name="Sign out").click()
    failed = page.get_by_role("region", name="Sign-out failed")
    expect(failed).to_contain_text("NETWORK_ERROR")
    expect(failed).to_contain_text("the session may still be active")
    expect(page.get_by_label("Signed-in user", exact=True)).to_contain_text(username)
    page.unroute("**/graphql")
    failed.get_by_role("button", name="Try sign-out again").click()
    expect(page.get_by_role("form", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Signed-in user", exact=True)).to_have_count(0)


def test_an_expired_token_is_refreshed_from_the_prompt_and_users_sit_side_by_side(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    first = register(live_server.base_url, "first")
    second = register(live_server.base_url, "second")
    a_module_that_fails_to_load_is_reported(page)
    page.goto("/")
    sign_in(page, first)
    timer = page.get_by_role("timer", name="Access token lifetime")
    expect(timer).to_have_text(re.compile(r"^0:0\d$"))
    open_screen(page, "Sessions")
    expect(page.get_by_role("table", name="Sessions").locator("tbody tr")).to_have_count(1)

    prompt = page.get_by_role("alert", name="Refresh prompt")
    expect(prompt).to_contain_text("Your access token expires in", timeout=10_000)
    expect(timer).to_have_text("expired", timeout=10_000)
    expect(prompt).to_contain_text("Your access token has expired")
    refused_as_expired(page)

    prompt.get_by_role("button", name="Refresh session").click()
    expect(timer).not_to_have_text("expired")
    page.get_by_role("button", name="Reload sessions").click()
    expect(sessions_screen(page).get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("table", name="Sessions").locator("tbody tr")).to_have_count(1)

    page.get_by_role("button", name="Add user").click()
    sign_in(page, second)
    selector = page.get_by_label("Signed-in user", exact=True)
    expect(selector.locator("option")).to_have_text([first, second])
    expect(page.get_by_role("heading", name=f"Sessions of {second}")).to_be_hidden()
    open_screen(page, "Sessions")
    expect(page.get_by_role("heading", name=f"Sessions of {second}")).to_be_visible()
    selector.select_option(label=first)
    open_screen(page, "Sessions")
    expect(page.get_by_role("heading", name=f"Sessions of {first}")).to_be_visible()
    refused_as_expired(page)  # signed out with an expired access token: refreshed, then ended
    page.get_by_role("button", name="Sign out").click()
    expect(selector.locator("option")).to_have_text([second])
    assert live_sessions(live_server.base_url, first) == 0

    page.get_by_role("button", name="Add user").click()
    sign_in(page, second)  # again: the earlier session of `second` is ended, not dropped
    expect(page.get_by_role("form", name="Sign in")).to_have_count(0)
    expect(selector.locator("option")).to_have_text([second])
    assert live_sessions(live_server.base_url, second) == 1
    outage_and_network_failure_are_explained(page)
    a_failed_sign_out_keeps_the_user(page, second)
    assert live_sessions(live_server.base_url, second) == 0

    assert no_browser_storage(page) == {"local": 0, "session": 0, "cookie": "", "databases": 0}
    assert page_watch.problems() == {
        "console_errors": [
            "Failed to load resource: the server responded with a status of 404 (Not Found)",
            "Failed to load resource: the server responded with a status of 503"
            " (Service Unavailable)",
            "Failed to load resource: net::ERR_FAILED",
            "Failed to load resource: net::ERR_FAILED",  # the sign-out without an answer
        ]
    }
