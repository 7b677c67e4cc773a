"""Commit-to-delivery time of audit events for a subscriber on another server instance.

Starts a throwaway PostgreSQL (or uses `--postgres-url`), two `ledgerql serve` processes on it,
an auditor subscribed to `auditEvents` on instance B, and a user changing their profile on
instance A at a fixed rate. For each event: the time from the row's `createdAt` (stamped just
before its transaction commits) to its arrival on B's WebSocket.

    .venv/bin/python bench/audit_delivery.py --events 200 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_throughput import throwaway_postgres_url  # noqa: E402
from bench.http_throughput import free_port, wait_live  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrations import upgrade_to_head  # noqa: E402
from db.models import User  # noqa: E402
from db.services import identity as identity_service  # noqa: E402
from db.session import Database  # noqa: E402

PASSWORD = "Bench-Passw0rd!x"  # noqa: S105 - a throwaway benchmark account
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { user { id } errors { code } } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken user { id } } }"
UPDATE = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { errors { code } } }"
EVENTS = "subscription { auditEvents(filter: {action: UPDATE}) { sequence createdAt } }"


def start(port: int, url: str, workdir: Path) -> subprocess.Popen[bytes]:
    """A `ledgerql serve` process on the shared database."""
    env = dict(os.environ, DATABASE_URL=url, APP_ENV="test", LOG_LEVEL="WARNING")
    env["DEV_SECRET_FILE"] = str(workdir / "secret")  # both instances share the secret
    return subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and the project CLI
        [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def sign_in(client: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """Register and log in; returns (access token, user global id)."""
    variables = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    await client.post("/graphql", json={"query": REGISTER, "variables": {"i": variables}})
    body = (
        await client.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"i": {"username": name, "password": PASSWORD}}},
        )
    ).json()
    login = body["data"]["login"]
    return login["accessToken"], login["user"]["id"]


async def measure(url: str, events: int, rate: float) -> None:
    """Print delivery-time percentiles."""
    await asyncio.to_thread(upgrade_to_head, url)
    with tempfile.TemporaryDirectory() as workdir:
        ports = free_port(), free_port()
        servers = [start(port, url, Path(workdir)) for port in ports]
        try:
            base_a, base_b = (f"http://127.0.0.1:{port}" for port in ports)
            await wait_live(base_a)
            await wait_live(base_b)
            await run(url, base_a, base_b, events, rate)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)


async def run(url: str, base_a: str, base_b: str, events: int, rate: float) -> None:
    """Subscribe on B, cause events on A, collect delivery times."""
    async with httpx.AsyncClient(base_url=base_a) as a, httpx.AsyncClient(base_url=base_b) as b:
        await sign_in(b, "watcher")
        actor_token, _ = await sign_in(a, "actor")
        database = Database(Settings(database_url=url, app_env="test"))
        async with database.unit_of_work() as uow, uow.read() as session:
            watcher_id = (
                await session.execute(select(User.id).where(User.username == "watcher"))
            ).scalar_one()
        async with database.unit_of_work() as uow, uow.write() as transaction:
            await identity_service.assign_role(transaction, watcher_id, "auditor")
        await database.dispose()
        watcher_token, _ = await sign_in(b, "watcher")
        delays: list[float] = []
        ws_url = base_b.replace("http", "ws") + "/graphql"
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            init = {"authorization": f"Bearer {watcher_token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            await ws.recv()
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
            )
            await asyncio.sleep(0.5)

            async def produce() -> None:
                headers = {"authorization": f"Bearer {actor_token}"}
                for index in range(events):
                    variables = {"i": {"fullName": f"Actor {index}"}}
                    await a.post(
                        "/graphql", json={"query": UPDATE, "variables": variables}, headers=headers
                    )
                    await asyncio.sleep(1 / rate)

            producer = asyncio.create_task(produce())
            while len(delays) < events:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                arrived = time.time()
                created = datetime.fromisoformat(
                    message["payload"]["data"]["auditEvents"]["createdAt"]
                )
                delays.append((arrived - created.timestamp()) * 1000)
            await producer
    delays.sort()
    quantiles = statistics.quantiles(delays, n=100)
    print(
        f"audit events A -> B over PostgreSQL NOTIFY: {len(delays)} events at {rate}/s  "
        f"p50 {quantiles[49]:.1f} ms  p95 {quantiles[94]:.1f} ms  p99 {quantiles[98]:.1f} ms  "
        f"max {delays[-1]:.1f} ms"
    )


async def main() -> None:
    """Run against a throwaway PostgreSQL unless a URL is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    cluster, url = (None, args.postgres_url)
    if url is None:
        cluster, url = await throwaway_postgres_url()
    try:
        await measure(url, args.events, args.rate)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
