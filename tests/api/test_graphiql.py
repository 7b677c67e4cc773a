"""GraphiQL over HTTP: our own page and built assets, the Content-Security-Policy of HTML pages,
and the committed build matching its lock file. The browser tests run the page itself."""

from __future__ import annotations

import hashlib
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from graph.graphiql import GRAPHIQL_DIST, MISSING_PAGE, graphiql_assets, graphiql_page
from graph.middleware import (
    DATA_CONTENT_SECURITY_POLICY,
    GRAPHIQL_CONTENT_SECURITY_POLICY,
    HTML_CONTENT_SECURITY_POLICY,
    SecurityHeadersMiddleware,
)
from tests.support.apps import PRODUCTION, app_with

GRAPHIQL_PROJECT = GRAPHIQL_DIST.parent
MANIFEST: dict[str, Any] = json.loads((GRAPHIQL_DIST / "manifest.json").read_text())
STRICT_HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class PageResources(HTMLParser):
    """The scripts and stylesheets an HTML page loads, and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "style" in values or any(name.startswith("on") for name in values):
            self.inline.append(f"<{tag}> attribute")
        if tag == "script":
            self.scripts.append(values.get("src") or "")
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        self._open = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.inline.append(f"<{self._open}> {data.strip()[:40]}")


# --------------------------------------------------------------------------- the policy


def test_the_html_policy_allows_only_the_apps_own_origin_and_no_inline_script() -> None:
    assert HTML_CONTENT_SECURITY_POLICY == STRICT_HTML_POLICY
    assert GRAPHIQL_CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    assert DATA_CONTENT_SECURITY_POLICY == "default-src 'none'; frame-ancestors 'none'"


async def test_every_html_response_gets_the_strict_policy_and_data_gets_none() -> None:
    async def html(_: Request) -> Response:
        return HTMLResponse("<p>console</p>")

    async def own_policy(_: Request) -> Response:
        return HTMLResponse("<p>x</p>", headers={"content-security-policy": "default-src 'self'"})

    async def data(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def text(_: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", html), Route("/own", own_policy), Route("/data", data),
                Route("/text", text)],
        middleware=[Middleware(SecurityHeadersMiddleware, hsts=False)],
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        policies = {
            path: (await client.get(path)).headers["content-security-policy"]
            for path in ("/", "/own", "/data", "/text")
        }
    assert policies == {
        "/": STRICT_HTML_POLICY,
        "/own": "default-src 'self'",
        "/data": DATA_CONTENT_SECURITY_POLICY,
        "/text": DATA_CONTENT_SECURITY_POLICY,
    }


async def test_api_responses_carry_the_data_policy(client: httpx.AsyncClient) -> None:
    responses = [
        await client.post("/graphql", json={"query": "{ health { status } }"}),
        await client.get("/health/live"),
        await client.get("/graphiql/graphiql.js"),
    ]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert {response.headers["content-security-policy"] for response in responses} == {
        DATA_CONTENT_SECURITY_POLICY
    }


# --------------------------------------------------------------------------- the page


async def test_graphiql_page_loads_only_same_origin_files_and_nothing_inline(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == GRAPHIQL_CONTENT_SECURITY_POLICY
    assert response.text == (GRAPHIQL_DIST / "index.html").read_text()
    resources = PageResources()
    resources.feed(response.text)
    assert resources.scripts == ["/graphiql/graphiql.js"]
    assert resources.stylesheets == ["/graphiql/graphiql.css", "/graphiql/page.css"]
    assert resources.inline == []
    assert "http" not in response.text.replace('lang="en"', "")


async def test_served_assets_are_the_committed_build(client: httpx.AsyncClient) -> None:
    assets = {
        name: digest for name, digest in MANIFEST["files"].items() if name.startswith("assets/")
    }
    served: dict[str, str] = {}
    for name in assets:
        response = await client.get(f"/graphiql/{name.removeprefix('assets/')}")
        assert response.status_code == 200, name
        served[name] = hashlib.sha256(response.content).hexdigest()
    assert served == assets
    script = await client.get("/graphiql/workers/graphql.worker.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "no-cache"  # kept, but revalidated
    again = await client.get(
        "/graphiql/workers/graphql.worker.js", headers={"if-none-match": script.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    assert (await client.get("/graphiql/index.html")).status_code == 404  # only at /graphql
    assert (await client.get("/graphiql/../manifest.json")).status_code == 404


async def test_production_serves_neither_graphiql_nor_its_assets(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, **PRODUCTION, graphiql_enabled=True) as (client, _):
        page = await client.get("/graphql", headers={"accept": "text/html"})
        script = await client.get("/graphiql/graphiql.js")
    assert "graphiql" not in page.text.lower()
    assert script.status_code == 404
    assert script.headers["content-security-policy"] == DATA_CONTENT_SECURITY_POLICY


async def test_graphiql_can_be_switched_off_outside_production(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, graphiql_enabled=False) as (client, _):
        page = await client.get("/graphql", headers={"accept": "text/html"})
        script = await client.get("/graphiql/graphiql.js")
    assert "graphiql" not in page.text.lower()
    assert script.status_code == 404


async def test_without_a_build_the_page_says_how_to_make_one(tmp_path: Path) -> None:
    assert graphiql_page(tmp_path) == MISSING_PAGE
    assert "./dev graphiql" in MISSING_PAGE
    transport = httpx.ASGITransport(app=graphiql_assets(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/graphiql.js")).status_code == 404


# --------------------------------------------------------------------------- reproducibility


def test_the_committed_build_is_what_the_lock_file_and_sources_produce() -> None:
    """dist/ was built from the committed package-lock.json, build script and sources, untouched.

    The build is deterministic (`./dev graphiql` rebuilds the same bytes): a change to any input
    without a rebuild, or an edit of a built file, fails here.
    """
    sources = (GRAPHIQL_PROJECT / "src").rglob("*")
    inputs = [
        "package.json",
        "package-lock.json",
        "build.mjs",
        *sorted(str(path.relative_to(GRAPHIQL_PROJECT)) for path in sources if path.is_file()),
    ]
    assert MANIFEST["inputs"] == {name: sha256(GRAPHIQL_PROJECT / name) for name in inputs}
    built = sorted(
        str(path.relative_to(GRAPHIQL_DIST))
        for path in GRAPHIQL_DIST.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    )
    assert MANIFEST["files"] == {name: sha256(GRAPHIQL_DIST / name) for name in built}


def test_the_build_pins_graphiql_and_its_dependencies() -> None:
    package = json.loads((GRAPHIQL_PROJECT / "package.json").read_text())
    lock = json.loads((GRAPHIQL_PROJECT / "package-lock.json").read_text())
    pinned = {**package["dependencies"], **package["devDependencies"]}
    assert all(version[0].isdigit() for version in pinned.values()), pinned
    assert {name: lock["packages"][f"node_modules/{name}"]["version"] for name in pinned} == pinned
    assert MANIFEST["graphiql"] == pinned["graphiql"]
    assert all("integrity" in entry for key, entry in lock["packages"].items() if key)
