"""W6: many WebSocket subscribers to `auditEvents`, events produced at a fixed rate.

Every subscriber is the same demo user watching their own UPDATE events (a user sees their own
audit rows); the same user changes their profile `rate` times a second over HTTP. Delivery time
is the arrival of each event on each socket minus the row's `createdAt` (stamped just before its
transaction commits; client and server share the clock).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

EVENTS = "subscription { auditEvents(filter: {action: UPDATE}) { sequence createdAt } }"
UPDATE = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { errors { code } } }"


async def _subscriber(url: str, token: str) -> ClientConnection:
    ws = await connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
    return ws


async def _collect(ws: ClientConnection, expected: int, delays: list[float]) -> int:
    received = 0
    try:
        async with asyncio.timeout(60):
            while received < expected:
                message = json.loads(await ws.recv())
                if message.get("type") != "next":
                    continue
                now = time.time()
                created = message["payload"]["data"]["auditEvents"]["createdAt"]
                stamp = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
                delays.append((now - stamp) * 1000)
                received += 1
    except TimeoutError:
        pass
    return received


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def delivery(
    base: str, token: str, *, subscribers: int, events: int, rate: float
) -> dict[str, Any]:
    """Open `subscribers` sockets, produce `events` at `rate`/s; delivery percentiles in ms."""
    url = base.replace("http://", "ws://") + "/graphql"
    sockets: list[ClientConnection] = []
    for start in range(0, subscribers, 50):  # connect in waves: no handshake storm
        batch = min(50, subscribers - start)
        sockets += await asyncio.gather(*(_subscriber(url, token) for _ in range(batch)))
    await asyncio.sleep(1.0)  # subscriptions have no acknowledgement; let them settle
    delays: list[float] = []
    collectors = [asyncio.create_task(_collect(ws, events, delays)) for ws in sockets]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        headers = {"authorization": f"Bearer {token}"}
        started = time.perf_counter()
        for n in range(events):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            variables = {"i": {"fullName": f"Demo {n}"}}
            await http.post(
                "/graphql", json={"query": UPDATE, "variables": variables}, headers=headers
            )
    received = await asyncio.gather(*collectors)
    for ws in sockets:
        await ws.close()
    return {
        "subscribers": subscribers,
        "events": events,
        "expected": subscribers * events,
        "delivered": sum(received),
        "p50": statistics.median(delays) if delays else None,
        "p95": _percentile(delays, 95) if delays else None,
        "p99": _percentile(delays, 99) if delays else None,
        "max": max(delays) if delays else None,
    }
