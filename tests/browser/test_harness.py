"""The browser harness itself: what `page_watch` records is what the page really did."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.browser.conftest import LiveServer
from tests.support.browser import PageWatch

OFF_ORIGIN = "http://off-origin.invalid/script.js"


def test_off_origin_requests_are_aborted_and_recorded(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    response = page.goto("/health/live")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.inner_text("body")) == {"status": "ok"}
    with pytest.raises(PlaywrightError, match="net::ERR_BLOCKED_BY_CLIENT"):
        page.goto(OFF_ORIGIN)
    assert page_watch.problems() == {"blocked_requests": [OFF_ORIGIN]}
    assert page_watch.origin == live_server.base_url


def test_csp_violations_and_console_errors_are_recorded(
    page: Page, page_watch: PageWatch, live_server: LiveServer
) -> None:
    page.goto("/health/live")  # data responses carry `default-src 'none'`
    directive = page.evaluate(
        """() => new Promise((resolve) => {
            const report = (event) => resolve(event.effectiveDirective);
            document.addEventListener("securitypolicyviolation", report);
            const image = new Image();
            image.src = "/favicon.png";
            document.body.append(image);
        })"""
    )
    assert directive == "img-src"
    # The recorder listens on the context too, registered earlier: it has heard of the message
    # by the time this waiter does.
    with page.context.expect_console_message(lambda message: message.text == "from the test"):
        page.evaluate("() => console.error('from the test')")
    problems = page_watch.problems()
    base = live_server.base_url
    assert problems["csp_violations"] == [
        f"img-src blocked {base}/favicon.png at {base}/health/live:0"
    ]
    assert "from the test" in problems["console_errors"]
    assert set(problems) == {"csp_violations", "console_errors"}
