"""Browser tests: Debian's Chromium (Playwright) against a real `ledgerql serve` per backend.

Tests here are plain (sync) functions using Playwright's sync API. One browser per pytest
worker while this package's tests run (package scope: between its calls the sync driver marks
its event loop as the thread's running one, which would break the asyncio tests run after
them), one server per backend (and per extra environment asked for) per worker for the whole
session, a fresh browser context per test. Every context is kept on the app's origin:
other requests are aborted and recorded in `page_watch`, with console errors, uncaught page
errors and CSP violations, so a test can assert that the page needed nothing from elsewhere.
A failing test leaves a full-page screenshot in var/test-artifacts/browser/.

Without Chromium the tests skip, saying why; with CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS
from tests.support.browser import (
    BrowserUnavailable,
    PageWatch,
    artifact_path,
    launch_chromium,
    watch_context,
)
from tests.support.postgres import TestDatabases
from tests.support.processes import running_server, server_env

CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@dataclass(frozen=True)
class LiveServer:
    """A running `ledgerql serve` process: its backend, base URL (= origin) and log file."""

    backend: str
    base_url: str
    log_file: Path


class BackendServers:
    """`ledgerql serve` processes on one backend, one per distinct extra environment, reused."""

    def __init__(
        self, backend: str, directory: Path, sqlite_template: Path | None,
        postgres: tuple[str, TestDatabases] | None,
    ) -> None:  # fmt: skip
        self.backend = backend
        self.directory = directory
        self.sqlite_template = sqlite_template
        self.postgres = postgres
        self._servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}
        self._stack = ExitStack()

    def get(self, **extra_env: str) -> LiveServer:
        """The server started with `extra_env` added to the test environment (started once)."""
        key = tuple(sorted(extra_env.items()))
        if key not in self._servers:
            self._servers[key] = self._start(len(self._servers), extra_env)
        return self._servers[key]

    def _start(self, number: int, extra_env: dict[str, str]) -> LiveServer:
        directory = self.directory / f"server-{number}"
        directory.mkdir()
        # Cheap password hashing (APP_ENV=test only): browser tests sign users up and in.
        env = server_env(
            self._fresh_database(directory), directory, **{"BCRYPT_ROUNDS": "4", **extra_env}
        )
        log_file = directory / "serve.log"
        _, base_url = self._stack.enter_context(running_server(env, log_file))
        return LiveServer(self.backend, base_url, log_file)

    def _fresh_database(self, directory: Path) -> str:
        if self.sqlite_template is not None:
            path = directory / "browser.db"
            shutil.copyfile(self.sqlite_template, path)
            return f"sqlite+aiosqlite:///{path}"
        assert self.postgres is not None
        admin_url, databases = self.postgres
        name = databases.take()
        self._stack.callback(databases.drop, name)  # after the server using it has stopped
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        """Stop every server and drop its database."""
        self._stack.close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver, while this package's tests run (see the module docstring)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for this package's tests; skips without one (fails with CI=true)."""
    try:
        chromium = launch_chromium(playwright)
    except BrowserUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is required in CI: {error}")
        pytest.skip(str(error))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="session", params=BACKENDS)
def app_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendServers]:
    """The `ledgerql serve` processes of one backend (a fresh database each)."""
    backend = str(request.param)
    directory = tmp_path_factory.mktemp(f"browser-{backend}")
    if backend == "sqlite":
        servers = BackendServers(
            backend, directory, request.getfixturevalue("sqlite_template"), None
        )
    else:
        postgres = (
            request.getfixturevalue("postgres_admin_url"),
            request.getfixturevalue("postgres_databases"),
        )
        servers = BackendServers(backend, directory, None, postgres)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def live_server(app_servers: BackendServers) -> LiveServer:
    """The default test server of this backend (APP_ENV=test), shared by the worker's tests."""
    return app_servers.get()


@dataclass(frozen=True)
class WatchedPage:
    """A page in a fresh browser context kept on the server's origin, and what it recorded."""

    page: Page
    watch: PageWatch


@pytest.fixture
def watched_page(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[WatchedPage]:
    """A fresh context on the live server's origin with one page; screenshots a failed test."""
    context = browser.new_context(base_url=live_server.base_url)
    try:
        watch = watch_context(context, live_server.base_url)
        page = context.new_page()
        yield WatchedPage(page, watch)
        report = request.node.stash.get(CALL_REPORT, None)
        if report is not None and report.failed:
            path = artifact_path(request.node.nodeid)
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=path, full_page=True)
    finally:
        context.close()


@pytest.fixture
def page(watched_page: WatchedPage) -> Page:
    """This test's page (relative URLs go to the live server)."""
    return watched_page.page


@pytest.fixture
def page_watch(watched_page: WatchedPage) -> PageWatch:
    """What this test's page recorded: off-origin requests, console/page errors, CSP reports."""
    return watched_page.watch


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the call phase's report on the test, for the screenshot of a failed test."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report
