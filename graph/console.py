"""The web console: static files from `frontend/` served at `/` and under `/console/`."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from core.logging import get_logger
from core.settings import PROJECT_ROOT
from graph.middleware import HTML_CONTENT_SECURITY_POLICY

log = get_logger(__name__)

FRONTEND_DIR = PROJECT_ROOT / "frontend"
"""The console's files: beside the Python packages in a checkout and in the image (/app)."""
ASSET_FOLDERS = ("css", "js", "vendor")
"""The only folders served (under /console/); package.json, scripts and the rest are not."""
CACHE_CONTROL = "no-cache"
"""Revalidated on every load (ETag/Last-Modified answer 304): never a stale mix after an upgrade."""


class ConsoleFiles(StaticFiles):
    """Static files answered with the console's cache policy."""

    def file_response(
        self,
        full_path: str | PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file (or 304) with `Cache-Control: no-cache`."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = CACHE_CONTROL
        return response


def console_index(frontend_dir: Path) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint answering the console's single page, `index.html` of `frontend_dir`."""
    page = frontend_dir / "index.html"

    async def index(_: Request) -> Response:
        return FileResponse(
            page,
            headers={
                "cache-control": CACHE_CONTROL,
                "content-security-policy": HTML_CONTENT_SECURITY_POLICY,
            },
        )

    return index


def console_routes(frontend_dir: Path = FRONTEND_DIR) -> list[BaseRoute]:
    """The console's routes, or none when its files are missing (logged, never a crash)."""
    missing = [
        name for name in ("index.html", *ASSET_FOLDERS) if not (frontend_dir / name).exists()
    ]
    if missing:
        log.warning("console_files_missing", directory=str(frontend_dir), missing=missing)
        return []
    routes: list[BaseRoute] = [Route("/", console_index(frontend_dir), methods=["GET", "HEAD"])]
    routes += [
        Mount(
            f"/console/{name}", ConsoleFiles(directory=frontend_dir / name), name=f"console-{name}"
        )
        for name in ASSET_FOLDERS
    ]
    return routes
