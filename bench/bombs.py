"""Hostile documents against `ledgerql serve`: milliseconds per bomb refused.

Every bomb of tests/support/bombs.py (fragment doubling chains, aliases, directives,
overlapping fields), each at the largest size the default 2,000-token limit lets through, is
sent to one `ledgerql serve` worker on a temporary SQLite database. The validation and parse
caches hold one entry, and bombs take turns, so every request is measured cold. Prints, per
bomb, the median and worst round trip, the time the document limits take in this process
(`check ms`, the refusal itself, without parsing or HTTP), the verdict; a valid query of the
same size as a baseline; the document within every limit that graphql-core's overlap rule
finds hardest (it executes, anonymously: UNAUTHENTICATED); and how long `/health/live` took
while every bomb was in flight. The target is 50 ms per bomb refused.

    .venv/bin/python bench/bombs.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from graphql import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ledgerql, ledgerql_serve, server_env, serving  # noqa: E402
from graph.extensions.measure import DocumentLimits, check_document  # noqa: E402
from tests.support.bombs import bombs  # noqa: E402

TARGET_MS = 50.0
DEFAULT_LIMITS = DocumentLimits(
    max_fields=500, max_field_repeats=20, max_depth=12, max_aliases=30, max_root_mutation_fields=10
)


BASELINE = "{ " + " ".join(f"a{n}: health {{ status version }}" for n in range(30)) + " }"
CHAIN = "accountHolder { user { " * 5 + "id username email" + " } }" * 5
WORST_ACCEPTED = "{ " + f"me {{ {CHAIN} }} " * 20 + "}"  # 20 fields per response entry: the cap


def check_ms(document: str) -> float:
    """Milliseconds the document limits take to measure (and refuse) a parsed document."""
    parsed = parse(document, max_tokens=100_000)
    started = time.perf_counter()
    check_document(parsed, DEFAULT_LIMITS)
    return (time.perf_counter() - started) * 1000


async def measure(base: str, documents: dict[str, str], rounds: int) -> None:
    """Send every bomb `rounds` times, in turns; print the figures."""
    timings: dict[str, list[float]] = {name: [] for name in documents}
    verdicts: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for _ in range(rounds):
            for name, document in documents.items():
                started = time.perf_counter()
                response = await client.post("/graphql", json={"query": document})
                timings[name].append((time.perf_counter() - started) * 1000)
                body = response.json()
                error = (body.get("errors") or [{"message": "ok", "extensions": {"code": "-"}}])[0]
                verdicts[name] = f"{error['extensions']['code']}: {error['message'][:60]}"
        health = await health_during_bombs(client, documents)
    print(f"{'bomb':<30} {'bytes':>6} {'median ms':>10} {'worst ms':>9} {'check ms':>9}  verdict")
    for name, document in documents.items():
        median, worst = statistics.median(timings[name]), max(timings[name])
        flag = "" if median <= TARGET_MS else "  (over the 50 ms target)"
        print(
            f"{name:<30} {len(document):>6} {median:>10.1f} {worst:>9.1f} "
            f"{check_ms(document):>9.2f}  {verdicts[name]}{flag}"
        )
    print(f"/health/live while every bomb was in flight: {health:.1f} ms")


async def health_during_bombs(client: httpx.AsyncClient, documents: dict[str, str]) -> float:
    """How long `/health/live` takes to answer while every bomb is sent at once."""
    posts = [client.post("/graphql", json={"query": doc}) for doc in documents.values()]
    sent = [asyncio.ensure_future(post) for post in posts]
    await asyncio.sleep(0)
    started = time.perf_counter()
    live = await client.get("/health/live")
    elapsed = (time.perf_counter() - started) * 1000
    await asyncio.gather(*sent)
    assert live.status_code == 200
    return elapsed


def main() -> None:
    """Parse arguments, serve a migrated temporary database, measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="times each bomb is sent")
    args = parser.parse_args()
    documents = {
        **bombs(),
        "baseline (valid, 30 aliases)": BASELINE,
        "worst accepted overlap": WORST_ACCEPTED,
    }
    with tempfile.TemporaryDirectory() as workdir:
        env = server_env(
            f"sqlite+aiosqlite:///{workdir}/bombs.db", Path(workdir), GRAPHQL_CACHE_SIZE="1"
        )
        ledgerql(env, "migrate")

        async def run() -> None:
            async with serving(ledgerql_serve(1), env, Path(workdir) / "serve.log") as base:
                await measure(base, documents, args.rounds)

        asyncio.run(run())


if __name__ == "__main__":
    main()
