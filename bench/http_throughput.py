"""Throughput and latency of a GraphQL query over HTTP against a real `ledgerql serve` process."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUERY = "query Health { health { status version database } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    env.setdefault("GRAPHQL_COST_BUDGET", "1000000000/1")  # measure the server, not the budget
    env.update(APP_ENV="test", LOG_LEVEL="WARNING", DEV_SECRET_FILE=str(workdir / "secret"))
    return subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and the project CLI
        [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_live(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise SystemExit("server did not start")


async def run(
    base: str, query: str, total: int, concurrency: int
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    remaining = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post("/graphql", json={"query": query})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or "errors" in response.json():
                    errors += 1

        for _ in range(min(50, total)):  # warm-up
            await client.post("/graphql", json={"query": query})
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, elapsed, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--query", default=DEFAULT_QUERY)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(port, Path(workdir))
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_live(base))
            latencies, elapsed, errors = asyncio.run(
                run(base, args.query, args.requests, args.concurrency)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    ms = sorted(value * 1000 for value in latencies)
    quantiles = statistics.quantiles(ms, n=100)
    print(f"query: {args.query}")
    print(f"requests: {len(ms)}  concurrency: {args.concurrency}  errors: {errors}")
    print(f"throughput: {len(ms) / elapsed:.0f} req/s")
    print(
        f"latency ms: p50 {quantiles[49]:.2f}  p95 {quantiles[94]:.2f}  "
        f"p99 {quantiles[98]:.2f}  max {ms[-1]:.2f}"
    )


if __name__ == "__main__":
    main()
