"""The web console's static files: where they are served, when, and with which headers."""

from __future__ import annotations

import posixpath
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from core.settings import AppEnv
from graph.app import create_app
from graph.console import FRONTEND_DIR, console_routes
from graph.middleware import HTML_CONTENT_SECURITY_POLICY
from tests.conftest import make_settings

IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]""", re.M)
FORBIDDEN_IN_SCRIPTS = (
    *("innerHTML", "outerHTML", "insertAdjacentHTML", "dangerouslySetInnerHTML", "srcdoc"),
    *("document.write", "eval(", "new Function", "javascript:", "style=", "console.log"),
    *("localStorage", "sessionStorage", "document.cookie", "indexedDB"),
)
"""Markup, code or styles built from strings (refused by the CSP or unsafe), script URLs, debug
output and browser storage; matched whatever the case."""
PRODUCTION = {"app_env": AppEnv.PRODUCTION, "jwt_secret": "p" * 48, "audit_hmac_key": "h" * 48}


def console_app(tmp_path: Path, **overrides: Any) -> Starlette:
    """The app without its lifespan: static files need no database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    return create_app(make_settings(url, tmp_path, **overrides))


@pytest.fixture
async def http(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = console_app(tmp_path, **getattr(request, "param", {}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_the_console_page_is_served_with_a_strict_policy(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == HTML_CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script\b([^>]*)>", page.text)
    assert scripts == [
        ' src="/console/js/boot.js" defer',  # a classic script: says so when the modules fail
        ' type="module" src="/console/js/main.js"',
    ]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text) == [
        "/console/css/console.css"
    ]
    assert "<style" not in page.text
    assert " style=" not in page.text
    css = await http.get("/console/css/console.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert "@import" not in css.text
    assert "url(" not in css.text


async def test_every_module_the_page_imports_is_served(http: httpx.AsyncClient) -> None:
    pending, seen = ["/console/js/main.js"], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/javascript; charset=utf-8", path
        assert response.headers["cache-control"] == "no-cache", path
        for specifier in IMPORT.findall(response.text):
            assert specifier.startswith("."), f"{path} imports {specifier}"
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(path), specifier)))
    assert "/console/vendor/graphql-ws/client.js" in seen
    assert "/console/vendor/htm/preact/standalone.module.js" in seen
    assert len([path for path in seen if path.startswith("/console/js/screens/")]) == 9


async def test_a_served_asset_answers_304_when_unchanged(http: httpx.AsyncClient) -> None:
    first = await http.get("/console/js/api.js")
    again = await http.get("/console/js/api.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/console/package.json",
        "/console/package-lock.json",
        "/console/scripts/vendor.mjs",
        "/console/index.html",
        "/console/graphiql/index.html",
        "/index.html",
    ],
)
async def test_only_the_asset_folders_are_served(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


async def get_raw(app: Starlette, raw_path: bytes) -> int:
    """The status of a GET of `raw_path` as sent, byte for byte, decoded as uvicorn decodes it.

    Clients (httpx included, even given `raw_path`) remove dot segments before sending, so the
    request is handed to the app directly.
    """
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw_path.decode("ascii")), "raw_path": raw_path,
        "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    sent: list[Message] = []
    requested, answered = False, anyio.Event()

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # the client stays until the whole answer is in
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/console/js/../package.json",
        b"/console/js/../../core/settings.py",
        b"/console/vendor/%2e%2e/%2e%2e/core/settings.py",
        b"/console/css/%2E%2E/package.json",
        b"/console/js/..%2f..%2fcore/settings.py",
        b"/console/js/..%5c..%5ccore%5csettings.py",
        b"/console/js/..\\..\\core\\settings.py",
    ],
)
async def test_dot_segments_never_leave_the_asset_folders(tmp_path: Path, raw_path: bytes) -> None:
    app = console_app(tmp_path)
    assert await get_raw(app, b"/console/js/api.js") == 200  # the same request, inside
    assert await get_raw(app, raw_path) == 404


async def test_the_console_does_not_shadow_the_api(http: httpx.AsyncClient) -> None:
    health = await http.post("/graphql", json={"query": "{ __typename }"})
    assert health.status_code == 200
    assert health.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("http", "status"),
    [
        (PRODUCTION, 404),
        ({**PRODUCTION, "console_enabled": True}, 200),
        ({"console_enabled": False}, 404),
    ],
    indirect=["http"],
)
async def test_console_enabled_decides_whether_it_is_served(
    http: httpx.AsyncClient, status: int
) -> None:
    assert (await http.get("/")).status_code == status
    assert (await http.get("/console/js/main.js")).status_code == status


def test_missing_console_files_mean_no_routes(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>", encoding="utf-8")
    assert console_routes(tmp_path) == []
    assert len(console_routes(FRONTEND_DIR)) == 4


async def test_the_page_comes_from_the_folder_given(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>elsewhere</title>", "utf-8")
    for name in ("css", "js", "vendor"):
        (tmp_path / name).mkdir()
    (tmp_path / "js" / "main.js").write_text("// elsewhere\n", encoding="utf-8")
    transport = httpx.ASGITransport(app=Starlette(routes=console_routes(tmp_path)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/")
        script = await client.get("/console/js/main.js")
    assert page.text == "<!doctype html><title>elsewhere</title>"
    assert page.headers["content-security-policy"] == HTML_CONTENT_SECURITY_POLICY
    assert script.text == "// elsewhere\n"


def test_the_scripts_never_build_markup_or_styles_from_strings() -> None:
    sources = {
        path: path.read_text(encoding="utf-8") for path in (FRONTEND_DIR / "js").rglob("*.js")
    }
    for path, text in sources.items():
        first_line = text.splitlines()[0]
        assert first_line.startswith("// "), path
        for forbidden in FORBIDDEN_IN_SCRIPTS:
            assert forbidden.lower() not in text.lower(), f"{path.name}: {forbidden}"
