"""W7: a login storm (concurrent wrong passwords) while a cheap query keeps being asked.

Every login uses a name of its own, so none is locked or rate-limited and each one costs a full
bcrypt check. Meanwhile one client asks `{ health { status } }` (one `SELECT 1`) back to back;
its latencies while the storm lasts are what the storm costs everyone else.

    .venv/bin/python bench/suite.py --backend postgresql --only w7
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx

LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
HEALTH = "{ health { status } }"


def _code(response: httpx.Response) -> str:
    """The first error code of a response, `OK` without errors, or `HTTP <status>`."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = body.get("errors") or []
    if not errors:
        return "OK"
    return str(errors[0].get("extensions", {}).get("code", "NONE"))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def login_storm(base: str, logins: int = 100) -> dict[str, Any]:
    """Fire `logins` wrong logins at once; time cheap queries until every login has answered."""
    limits = httpx.Limits(max_connections=logins + 10, max_keepalive_connections=logins + 10)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        run = uuid.uuid4().hex[:8]

        async def attempt(n: int) -> str:
            variables = {"i": {"username": f"storm-{run}-{n}", "password": "Wrong-Passw0rd!"}}
            response = await http.post("/graphql", json={"query": LOGIN, "variables": variables})
            return _code(response)

        await http.post("/graphql", json={"query": HEALTH})  # warm the probe's connection
        started = time.perf_counter()
        storm = asyncio.gather(*(attempt(n) for n in range(logins)))
        probes: list[float] = []
        probe_codes: Counter[str] = Counter()
        while not storm.done():
            sent = time.perf_counter()
            response = await http.post("/graphql", json={"query": HEALTH})
            probes.append((time.perf_counter() - sent) * 1000)
            probe_codes[_code(response)] += 1
            await asyncio.sleep(0.01)
        codes = Counter(await storm)
    return {
        "seconds": time.perf_counter() - started,
        "login_codes": dict(codes),
        "internal": codes.get("INTERNAL", 0),
        "probes": len(probes),
        "probe_failures": sum(n for code, n in probe_codes.items() if code != "OK"),
        "p50": statistics.median(probes) if probes else float("nan"),
        "p99": _percentile(probes, 0.99),
    }
