"""What the benchmark suite shares: databases, server processes, demo sign-ins, autocannon runs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
LOAD_DIR = ROOT / "bench" / "load"
DEMO_PASSWORD = "Demo-Ledger-2026!"  # noqa: S105 - the documented password of seed-demo users
UNLIMITED = "1000000000/1"
# A server gets this long to answer its first probe (the machine may be shared and busy).
STARTUP_SECONDS = 240


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A private PostgreSQL cluster (the test suite's) with an empty `bench` database; its URL."""
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import ThrowawayPostgres  # noqa: PLC0415

    cluster = ThrowawayPostgres()
    admin = cluster.start()

    async def create() -> None:
        dsn = make_url(admin).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        await connection.execute("CREATE DATABASE bench")
        await connection.close()

    try:
        asyncio.run(create())
        yield make_url(admin).set(database="bench").render_as_string(hide_password=False)
    finally:
        cluster.stop()


def server_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked `ledgerql` process.

    Production-like (bcrypt cost 12, access log on) except that the per-caller protections are
    lifted: the suite drives a handful of demo users far past any fair-use budget on purpose.
    """
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        APP_ENV="test", DATABASE_URL=database_url, MIGRATE_ON_START="false",
        JWT_SECRET=secrets.token_urlsafe(48), DEV_SECRET_FILE=str(workdir / "secret"),
        LOG_FORMAT="json", BCRYPT_ROUNDS="12", SQLITE_BUSY_TIMEOUT_MS="60000",
        GRAPHQL_COST_BUDGET=UNLIMITED, RATE_LIMIT_LOGIN=UNLIMITED, RATE_LIMIT_REGISTER=UNLIMITED,
        RATE_LIMIT_LOGIN_FAILURES=UNLIMITED, RATE_LIMIT_REFRESH=UNLIMITED, LOGIN_MAX_FAILURES="100",
    )  # fmt: skip
    env.update(extra)
    return env


def ledgerql(
    env: dict[str, str], *args: str, python: str = sys.executable, cwd: Path = ROOT
) -> None:
    """Run one `ledgerql` command to completion (migrate, seed-demo); this checkout by default."""
    subprocess.run(  # noqa: S603 - fixed argv: an interpreter and the project CLI
        [python, "-m", "graph.cli", *args], cwd=cwd, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


@asynccontextmanager
async def serving(
    argv: Sequence[str], env: dict[str, str], log_path: Path, ready_query: str | None = None,
    cwd: Path = ROOT,
) -> AsyncIterator[str]:  # fmt: skip
    """Run a server command (it gets `--port`) until the block exits; yields its base URL.

    The server is up once `GET /health/live` succeeds, or with `ready_query`, once POSTing that
    GraphQL query to `/graphql` answers `data` (a server without a health route).
    """
    async with serving_process(argv, env, log_path, ready_query, cwd) as (base, _pid):
        yield base


@asynccontextmanager
async def serving_process(
    argv: Sequence[str], env: dict[str, str], log_path: Path, ready_query: str | None = None,
    cwd: Path = ROOT,
) -> AsyncIterator[tuple[str, int]]:  # fmt: skip
    """`serving`, also yielding the server's process id (e.g. for a profiler)."""
    port = free_port()
    with log_path.open("w") as log:
        server = await asyncio.create_subprocess_exec(
            *argv, "--port", str(port), cwd=cwd, env=env, stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient(timeout=10) as probe:
            while True:
                if server.returncode is not None:
                    raise SystemExit(f"server exited early: {_tail(log_path)}")
                try:
                    if await _ready(probe, base, ready_query):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"server did not start in {STARTUP_SECONDS} s: "
                                     f"{_tail(log_path)}")  # fmt: skip
                await asyncio.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), timeout=30)
        except TimeoutError:
            server.kill()
            await server.wait()


def _tail(log_path: Path) -> str:
    """The end of a server's log, for an error message."""
    return f"{log_path}: ...{log_path.read_text(errors='replace')[-1500:]}"


async def _ready(probe: httpx.AsyncClient, base: str, ready_query: str | None) -> bool:
    if ready_query is None:
        return (await probe.get(f"{base}/health/live")).is_success
    answer = await probe.post(f"{base}/graphql", json={"query": ready_query})
    try:
        return answer.is_success and "data" in answer.json()
    except ValueError:  # not JSON yet
        return False


def ledgerql_serve(workers: int, python: str = sys.executable) -> list[str]:
    """The argv of `ledgerql serve` with `workers` processes (run by `python`: this one)."""
    return [python, "-m", "graph.cli", "serve", "--workers", str(workers)]


@dataclass(frozen=True)
class DemoUser:
    """A seed-demo user signed in, with their accounts (most transactions first)."""

    username: str
    user_id: str
    token: str
    accounts: list[str]

    @property
    def user_uuid(self) -> str:
        """The UUID inside the user's global id."""
        return base64.b64decode(self.user_id).decode().partition(":")[2]

    @property
    def headers(self) -> dict[str, str]:
        """JSON request headers with this user's bearer token."""
        return {"content-type": "application/json", "authorization": f"Bearer {self.token}"}


LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken user { id } } }"
ACCOUNTS = "{ me { accounts(first: 20) { edges { node { id transactions { totalCount } } } } } }"


async def sign_in_demo_users(base: str, count: int = 5) -> list[DemoUser]:
    """Log in demo1..demo<count> and list their accounts."""
    users = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for n in range(1, count + 1):
            variables = {"i": {"username": f"demo{n}", "password": DEMO_PASSWORD}}
            login = await http.post("/graphql", json={"query": LOGIN, "variables": variables})
            body = login.json()["data"]["login"]
            token = body["accessToken"]
            me = await http.post(
                "/graphql", json={"query": ACCOUNTS}, headers={"authorization": f"Bearer {token}"}
            )
            edges = me.json()["data"]["me"]["accounts"]["edges"]
            ranked = sorted(edges, key=lambda e: -e["node"]["transactions"]["totalCount"])
            accounts = [edge["node"]["id"] for edge in ranked]
            users.append(DemoUser(f"demo{n}", body["user"]["id"], token, accounts))
    return users


def graphql_request(
    query: str, variables: dict[str, Any] | None, headers: dict[str, str]
) -> dict[str, Any]:
    """One autocannon request description: a POST of a GraphQL operation."""
    body = {"query": query, "variables": variables or {}}
    return {"method": "POST", "path": "/graphql", "headers": headers, "body": json.dumps(body)}


async def autocannon(
    url: str,
    requests: list[dict[str, Any]],
    *,
    connections: int,
    seconds: float,
    rate: int | None = None,
    id_replacement: bool = False,
) -> dict[str, Any]:
    """Run bench/load/run.mjs (autocannon, every response checked); its JSON summary."""
    spec = {
        "url": url, "connections": connections, "duration": seconds, "rate": rate,
        "requests": requests, "idReplacement": id_replacement,
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        "node", str(LOAD_DIR / "run.mjs"), json.dumps(spec),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"autocannon failed: {err.decode()[-2000:]}")
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


async def open_loop(
    url: str,
    requests: list[dict[str, Any]],
    *,
    connections: int,
    rate: int,
    seconds: float,
    id_replacement: bool = False,
) -> dict[str, Any]:
    """Run bench/load/openloop.mjs (fixed schedule over `connections` open sockets); its summary."""
    spec = {
        "url": url, "connections": connections, "duration": seconds, "rate": rate,
        "requests": requests, "idReplacement": id_replacement,
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        "node", str(LOAD_DIR / "openloop.mjs"), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate(json.dumps(spec).encode())  # too long for an argument
    if process.returncode != 0:
        raise SystemExit(f"open-loop sender failed: {err.decode()[-2000:]}")
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary
