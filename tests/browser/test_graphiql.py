"""GraphiQL in a real browser: built into the app, nothing loaded from anywhere else.

Every request that is not to the app's own origin is aborted (see conftest), so these pass only
if the page works offline, under its Content-Security-Policy, without a console error.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, WebSocket, expect

from tests.browser.conftest import LiveServer
from tests.support.browser import PageWatch
from tests.support.identity import LOGIN, REGISTER, STRONG_PASSWORD

QUERY_EDITOR = ".graphiql-query-editor .monaco-editor"
RESPONSE = ".graphiql-response"
SUBSCRIPTION = "subscription { auditEvents { action status } }"


def open_graphiql(page: Page) -> None:
    """Open GraphiQL at /graphql and wait until it has loaded the schema."""
    page.goto("/graphql")
    expect(page.locator(QUERY_EDITOR)).to_be_visible()
    expect(page.get_by_role("button", name="Re-fetch GraphQL schema")).to_be_enabled()


def replace_editor_text(page: Page, editor: str, text: str) -> None:
    """Replace everything in a Monaco editor of the page by `text`, as typed by the user."""
    page.locator(editor).click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def run_operation(page: Page, text: str) -> None:
    """Put `text` in the query editor and press GraphiQL's run button."""
    replace_editor_text(page, QUERY_EDITOR, text)
    page.locator(".graphiql-execute-button").click()


def response_json(page: Page) -> Any:
    """The JSON in GraphiQL's result pane (a short one: the editor renders visible lines only)."""
    return json.loads(page.locator(RESPONSE).inner_text().replace("\xa0", " "))


def signed_in_user(base_url: str) -> tuple[str, str]:
    """Register a fresh user on the server and return its username and an access token."""
    username = f"graphiql_{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=base_url, timeout=30) as http:
        registered = http.post(
            "/graphql",
            json={"query": REGISTER, "variables": {"input": {
                "username": username, "email": f"{username}@example.com",
                "password": STRONG_PASSWORD, "fullName": ""}}},
        ).json()  # fmt: skip
        assert registered["data"]["register"]["errors"] == [], registered
        return username, log_in(http, username)


def log_in(http: httpx.Client, username: str) -> str:
    """Log `username` in and return the access token."""
    body = http.post(
        "/graphql",
        json={
            "query": LOGIN,
            "variables": {"input": {"username": username, "password": STRONG_PASSWORD}},
        },
    ).json()
    assert "errors" not in body, body
    return str(body["data"]["login"]["accessToken"])


def test_graphiql_runs_a_query_typed_by_the_user(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    open_graphiql(page)
    replace_editor_text(page, QUERY_EDITOR, "{ nope }")  # validated by the GraphQL worker
    expect(page.locator(".graphiql-query-editor .squiggly-error")).to_have_count(1)
    for _ in range(100):  # Monaco starts its workers as the editors appear
        if len(page.workers) == 3:
            break
        page.wait_for_timeout(100)
    assert sorted(worker.url.removeprefix(live_server.base_url) for worker in page.workers) == [
        "/graphiql/workers/editor.worker.js",
        "/graphiql/workers/graphql.worker.js",
        "/graphiql/workers/json.worker.js",
    ]
    with page.expect_request(lambda request: request.method == "POST") as sent:
        run_operation(page, "{ health { status } }")
    expect(page.locator(RESPONSE)).to_contain_text('"status"')
    assert response_json(page)["data"] == {"health": {"status": "OK"}}
    assert sent.value.url == f"{live_server.base_url}/graphql"
    assert sent.value.post_data_json["query"] == "{ health { status } }"
    assert page_watch.problems() == {}


def test_graphiql_subscribes_over_the_same_origin_websocket_with_the_headers_token(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    username, token = signed_in_user(live_server.base_url)
    open_graphiql(page)
    page.get_by_role("button", name="Headers").click()
    replace_editor_text(
        page, ".graphiql-editor-tool .monaco-editor >> visible=true",
        json.dumps({"Authorization": f"Bearer {token}"}),
    )  # fmt: skip
    with page.expect_websocket() as opened:
        run_operation(page, SUBSCRIPTION)
    websocket: WebSocket = opened.value
    websocket.wait_for_event("framereceived", lambda frame: '"connection_ack"' in str(frame))
    with httpx.Client(base_url=live_server.base_url, timeout=30) as http:
        for _ in range(20):  # the subscription may start listening just after the first login
            log_in(http, username)
            if "LOGIN" in page.locator(RESPONSE).inner_text(timeout=1000):
                break
            page.wait_for_timeout(250)
    assert response_json(page)["data"] == {"auditEvents": {"action": "LOGIN", "status": "SUCCESS"}}
    assert websocket.url == live_server.base_url.replace("http://", "ws://") + "/graphql"
    storage = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert SUBSCRIPTION in storage  # GraphiQL keeps its tabs and history...
    assert token not in storage  # ...but never the headers holding the token
    assert page_watch.problems() == {}
