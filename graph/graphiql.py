"""GraphiQL served by the app itself: a page and its built assets, no CDN (off in production).

The assets are built from `frontend/graphiql/` (package-lock.json + build.mjs) into
`frontend/graphiql/dist/`, which is committed so the app runs without Node or internet; its
`manifest.json` records every file's sha256. The page loads only same-origin scripts, styles,
fonts and workers, under `GRAPHIQL_CONTENT_SECURITY_POLICY` (see graph.middleware).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.routing import Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from core.settings import PROJECT_ROOT

GRAPHIQL_DIST = PROJECT_ROOT / "frontend" / "graphiql" / "dist"
ASSETS_PATH = "/graphiql"
"""Where the built files are served (the page itself is served at /graphql)."""
MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LedgerQL GraphiQL</title></head>
<body><p>GraphiQL's built files are missing (frontend/graphiql/dist): build them with
<code>./dev graphiql</code> (needs Node and npm).</p>
</body></html>
"""


@cache
def graphiql_page(dist: Path = GRAPHIQL_DIST) -> str:
    """The GraphiQL HTML page (read once), or a page saying how to build the missing assets."""
    try:
        return (dist / "index.html").read_text(encoding="utf-8")
    except FileNotFoundError:
        return MISSING_PAGE


class RevalidatedStaticFiles(StaticFiles):
    """Static files a browser may keep but must revalidate (ETag, 304) before each use."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:  # fmt: skip
        """The file (or 304), marked `Cache-Control: no-cache` instead of the app's `no-store`."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


def graphiql_assets(dist: Path = GRAPHIQL_DIST) -> ASGIApp:
    """The files the page loads, as a static-file app (404 for everything when not built)."""
    assets = dist / "assets"
    return RevalidatedStaticFiles(directory=assets) if assets.is_dir() else Router()
