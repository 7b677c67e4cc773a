"""`auditLogs` page and totalCount times on a million audit rows, per filter.

Seeds `--rows` rows straight into `audit_logs` with one INSERT … SELECT (the hash chain is not
what is measured), then times the repository calls behind `auditLogs`: the first newest-first
page (first: 20) and the total count, for each filter, as medians of `--runs`.

    .venv/bin/python bench/audit_queries.py                  # a throwaway PostgreSQL
    .venv/bin/python bench/audit_queries.py --sqlite         # a SQLite file instead
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_throughput import throwaway_postgres_url  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrations import upgrade_to_head  # noqa: E402
from db.repositories import audit as audit_repo  # noqa: E402
from db.session import Database  # noqa: E402

USERS = 1000
ACTIONS = ("CREATE", "UPDATE", "LOGIN", "LOGOUT", "TOKEN_REFRESH", "READ", "LOGIN_FAILED")
START = datetime(2026, 1, 1, tzinfo=UTC)


class Auditor:
    """A viewer who sees every audit row (`audit:read`)."""

    user_id = uuid.UUID(int=1)

    def sees_all_audit(self) -> bool:
        """Every audit row."""
        return True


def seed_sql(dialect: str, rows: int) -> str:
    """One INSERT … SELECT producing `rows` rows spread over users, actions and a year."""
    # Only integers and the constant action names above are interpolated: no outside input.
    actions = "ARRAY[" + ",".join(f"'{action}'" for action in ACTIONS) + "]"
    cases = " ".join(f"WHEN {index} THEN '{action}'" for index, action in enumerate(ACTIONS))
    if dialect == "postgresql":
        return f"""
        INSERT INTO audit_logs (id, sequence, user_id, action, entity_type, entity_id, status,
            created_at, previous_hash, hash)
        SELECT gen_random_uuid(), n,
            ('00000000-0000-0000-0000-' || lpad(to_hex(n % {USERS}), 12, '0'))::uuid,
            ({actions})[1 + n % {len(ACTIONS)}], 'User', 'entity-' || (n % 5000),
            CASE WHEN n % 17 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
            TIMESTAMPTZ '2026-01-01' + (n || ' seconds')::interval * 30, '', ''
        FROM generate_series(1, {rows}) AS n
        """  # noqa: S608
    return f"""
    WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {rows})
    INSERT INTO audit_logs (id, sequence, user_id, action, entity_type, entity_id, status,
        created_at, previous_hash, hash)
    SELECT lower(hex(randomblob(16))), v,
        '00000000000000000000' || printf('%012x', v % {USERS}),
        CASE v % {len(ACTIONS)} {cases} END,
        'User', 'entity-' || (v % 5000),
        CASE WHEN v % 17 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
        datetime('2026-01-01', '+' || (v * 30) || ' seconds'), '', ''
    FROM n
    """  # noqa: S608


async def timed(call: object, runs: int) -> float:
    """Median milliseconds of an awaitable factory."""
    figures = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        figures.append((time.perf_counter() - started) * 1000)
    return statistics.median(figures)


async def measure(url: str, rows: int, runs: int) -> None:
    """Seed, then print page and count times per filter."""
    await asyncio.to_thread(upgrade_to_head, url)
    database = Database(Settings(database_url=url, app_env="test"))
    try:
        started = time.perf_counter()
        async with database.engine.begin() as connection:
            await connection.execute(text(seed_sql(database.dialect, rows)))
            if database.dialect == "postgresql":
                await connection.execute(text("ANALYZE audit_logs"))
        print(f"{database.dialect}: seeded {rows:,} rows in {time.perf_counter() - started:.1f} s")
        user = uuid.UUID(int=42)
        filters = {
            "none": audit_repo.AuditQuery(),
            "userId": audit_repo.AuditQuery(user_id=user),
            "action": audit_repo.AuditQuery(action="LOGIN_FAILED"),
            "entity": audit_repo.AuditQuery(entity_type="User", entity_id="entity-7"),
            "status": audit_repo.AuditQuery(status="FAILURE"),
            "one day": audit_repo.AuditQuery(
                since=START + timedelta(days=100), until=START + timedelta(days=101)
            ),
            "userId+action": audit_repo.AuditQuery(user_id=user, action="LOGIN"),
        }
        viewer = Auditor()
        print(f"  {'filter':<14} {'page (first 20)':>16} {'totalCount':>12}")
        for name, query in filters.items():

            async def page(query: audit_repo.AuditQuery = query) -> None:
                async with database.unit_of_work() as uow, uow.read() as session:
                    await audit_repo.list_page(session, viewer, query, 20, None)

            async def count(query: audit_repo.AuditQuery = query) -> None:
                async with database.unit_of_work() as uow, uow.read() as session:
                    await audit_repo.count(session, viewer, query)

            page_ms, count_ms = await timed(page, runs), await timed(count, runs)
            print(f"  {name:<14} {page_ms:13.1f} ms {count_ms:9.1f} ms")
    finally:
        await database.dispose()


async def main() -> None:
    """Run on a throwaway PostgreSQL, or on SQLite with --sqlite."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as workdir:
            await measure(f"sqlite+aiosqlite:///{workdir}/audit.db", args.rows, args.runs)
        return
    cluster, url = (None, args.postgres_url)
    if url is None:
        cluster, url = await throwaway_postgres_url()
    try:
        await measure(url, args.rows, args.runs)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
