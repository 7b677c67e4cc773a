"""Chromium driven by Playwright in the browser tests: launch it, watch a page, keep it on-origin.

Browser builds cannot be downloaded here, so the tests drive Debian's Chromium
(`/usr/bin/chromium`, installed by `./dev test` with apt-get), never `playwright install`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Playwright,
    Route,
    WebError,
    WebSocketRoute,
)
from playwright.sync_api import Error as PlaywrightError

from tests.support.processes import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
"""Where a failing browser test leaves its full-page screenshot (`<test id>.png`)."""
DEFAULT_TIMEOUT_MS = 20_000  # a loaded 2-core machine running the suite in parallel is slow
CSP_VIOLATION_BINDING = "__ledgerqlCspViolation"
# Runs in every frame before the page's own scripts, whatever the page's CSP says.
CSP_LISTENER = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  window.{CSP_VIOLATION_BINDING}(
    `${{event.effectiveDirective}} blocked ${{event.blockedURI || "(inline)"}}`
    + ` at ${{event.sourceFile || event.documentURI}}:${{event.lineNumber}}`
  );
}});
"""
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed or could not be started."""


def launch_chromium(playwright: Playwright) -> Browser:
    """Start Debian's headless Chromium, or raise `BrowserUnavailable` saying why not."""
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found (`./dev test` installs Debian's chromium with apt-get)"
        raise BrowserUnavailable(msg)
    try:
        return playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except PlaywrightError as error:
        raise BrowserUnavailable(f"{CHROMIUM} could not be started: {error.message}") from error


def origin_of(url: str) -> str:
    """The origin of `url`, WebSocket schemes counted as their HTTP counterparts."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


@dataclass
class PageWatch:
    """What the pages of one browser context did wrong: off-origin requests, errors, CSP reports."""

    origin: str
    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        """Every non-empty list of problems, by name."""
        found = {
            "blocked_requests": self.blocked_requests,
            "console_errors": self.console_errors,
            "page_errors": self.page_errors,
            "csp_violations": self.csp_violations,
        }
        return {name: list(items) for name, items in found.items() if items}

    def on_origin(self, url: str) -> bool:
        """Whether the browser may load `url`: the app's own origin or a local scheme."""
        return urlsplit(url).scheme in LOCAL_SCHEMES or origin_of(url) == self.origin

    def _route(self, route: Route) -> None:
        url = route.request.url
        if self.on_origin(url):
            route.continue_()
        else:
            self.blocked_requests.append(url)
            route.abort("blockedbyclient")

    def _route_websocket(self, websocket: WebSocketRoute) -> None:
        self.blocked_requests.append(websocket.url)
        websocket.close(code=1008, reason="off-origin WebSocket blocked by the test")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _web_error(self, error: WebError) -> None:
        self.page_errors.append(str(error.error))


def watch_context(context: BrowserContext, origin: str) -> PageWatch:
    """Keep `context` on `origin` (anything else is aborted and recorded) and record its errors.

    Call before opening a page: routes and init scripts apply to pages opened afterwards.
    """
    watch = PageWatch(origin=origin)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.route(re.compile(r".*"), watch._route)
    context.route_web_socket(lambda url: not watch.on_origin(url), watch._route_websocket)
    context.expose_binding(
        CSP_VIOLATION_BINDING, lambda _source, report: watch.csp_violations.append(str(report))
    )
    context.add_init_script(CSP_LISTENER)
    context.on("console", watch._console)
    context.on("weberror", watch._web_error)
    return watch


def artifact_path(nodeid: str) -> Path:
    """The screenshot file of the test `nodeid`, its name made filesystem-safe."""
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', nodeid).strip('_')}.png"
