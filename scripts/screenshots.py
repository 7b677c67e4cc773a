"""The README's screenshots of the web console, taken in Debian's Chromium against a real server.

Starts `ledgerql serve` on a temporary SQLite database seeded by `seed-demo`, with an
administrator made by `create-admin`; signs `demo1` in and saves the accounts screen, then signs
the administrator in beside them, makes a transfer as `demo1` and saves the live audit feed.

    .venv/bin/python scripts/screenshots.py [--output docs/images]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DEMO_PASSWORD = "Demo-Ledger-2026!"  # noqa: S105 - seed-demo's documented password
ADMIN_PASSWORD = secrets.token_urlsafe(16) + "-Aa1!"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ledgerql(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - this interpreter and the project's CLI
        [sys.executable, "-m", "graph.cli", *args], cwd=ROOT, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_until_live(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/health/live", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start within 60 s")


def _sign_in(page: Page, username: str, password: str) -> None:
    form = page.get_by_role("form", name="Sign in")
    form.get_by_label("Username or email", exact=True).fill(username)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Signed-in user", exact=True)).to_contain_text(username)


def _screen(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Screens").get_by_role("button", name=name).click()


def take(base: str, output: Path) -> None:
    """Sign in, open the screens and save them as PNG files in `output`."""
    output.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 900})
        page.goto("/")
        _sign_in(page, "demo1", DEMO_PASSWORD)
        _screen(page, "Accounts")
        page.get_by_role("button", name="Transactions").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(output / "console-dashboard.png"), full_page=True)

        page.get_by_role("button", name="Add user").click()
        _sign_in(page, "root", ADMIN_PASSWORD)
        _screen(page, "Audit")
        expect(page.get_by_label("Live feed status")).to_contain_text("connected")
        events = page.get_by_role("table", name="Audit events").locator("tbody tr")
        for _ in range(20):  # the protocol does not acknowledge a subscription: wait for one row
            _ledgerql_login(base, "demo2")
            try:
                expect(events).not_to_have_count(0, timeout=500)
                break
            except AssertionError:
                continue
        _transfer(base, _ledgerql_login(base, "demo1"))
        _ledgerql_login(base, "demo3")
        expect(events).not_to_have_count(0)
        page.screenshot(path=str(output / "console-audit-feed.png"), full_page=False)
        browser.close()


def _graphql(base: str, query: str, variables: dict[str, Any], token: str = "") -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables},
                        headers=headers, timeout=30)  # fmt: skip
    return answer.json()["data"]


def _ledgerql_login(base: str, username: str) -> str:
    query = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
    variables = {"i": {"username": username, "password": DEMO_PASSWORD}}
    return str(_graphql(base, query, variables)["login"]["accessToken"])


def _transfer(base: str, token: str) -> None:
    """A transfer of 12.50 between the user's first two accounts."""
    mine = "{ me { accounts(first: 2) { edges { node { id } } } } }"
    first, second = (
        e["node"]["id"] for e in _graphql(base, mine, {}, token)["me"]["accounts"]["edges"]
    )
    query = "mutation($i: TransferInput!) { transfer(input: $i) { errors { code } } }"
    move = {"fromAccountId": second, "toAccountId": first, "amount": 1250,
            "idempotencyKey": secrets.token_hex(8), "description": "Rent share"}  # fmt: skip
    _graphql(base, query, {"i": move}, token)


def main() -> None:
    """Serve a seeded database and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ, "APP_ENV": "local", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/db",
            "DEV_SECRET_FILE": f"{tmp}/secret", "LOG_LEVEL": "WARNING",
            "LEDGERQL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }  # fmt: skip
        _ledgerql(env, "migrate")
        _ledgerql(env, "seed-demo", "--users", "4")
        _ledgerql(env, "create-admin", "--username", "root", "--email", "root@example.com")
        port = _free_port()
        server = subprocess.Popen(  # noqa: S603 - this interpreter and the project's CLI
            [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_live(base, server)
            take(base, args.output)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"saved console-dashboard.png and console-audit-feed.png in {args.output}")


if __name__ == "__main__":
    main()
