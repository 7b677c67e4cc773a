"""Run the ASGI app under a real uvicorn server on a free loopback port, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp

# Generous, for a loaded machine; start-up normally takes milliseconds.
START_TIMEOUT_SECONDS = 60


@asynccontextmanager
async def live_server(app: ASGIApp, **options: Any) -> AsyncIterator[str]:
    """Serve `app` until the block exits (`options` go to uvicorn's Config); yields `host:port`."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, ws="websockets-sansio",
        **options,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(START_TIMEOUT_SECONDS * 100):  # each sleep takes 10 ms or longer
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                await task  # surfaces the start-up error
            msg = f"uvicorn did not start in {START_TIMEOUT_SECONDS}s"
            raise RuntimeError(msg)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
