"""Write throughput with and without audit chaining, on SQLite and PostgreSQL.

Each of `--workers` concurrent tasks runs `--units` write units. A unit locks and updates its
own user row (so business rows never contend), spends `--work-ms` on simulated business work
inside the transaction, and commits; with audit on, the unit also appends one hash-chained
audit row as its last step. "No audit" replaces the append with nothing. If the chain lock
were held for the whole transaction, throughput with audit would fall towards
1000 / work-ms units per second; holding it only for the append keeps it near the no-audit
figure.

    .venv/bin/python bench/audit_throughput.py   # SQLite, then a throwaway PostgreSQL
    .venv/bin/python bench/audit_throughput.py --postgres-url postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from db.audit import chain  # noqa: E402
from db.migrations import upgrade_to_head  # noqa: E402
from db.models import AuditChainHead, User  # noqa: E402
from db.repositories import identity as identity_repo  # noqa: E402
from db.session import Database  # noqa: E402


async def _no_append(*_: Any, **__: Any) -> None:
    return None


@contextmanager
def audit_disabled() -> Iterator[None]:
    """Units commit without appending audit rows."""
    original = chain.append
    chain.append = _no_append  # type: ignore[assignment]
    try:
        yield
    finally:
        chain.append = original


async def run_units(
    database: Database,
    user_ids: list[uuid.UUID],
    units: int,
    work_ms: float,
    *,
    lock_first: bool = False,
) -> float:
    """Units per second for all workers together; `lock_first` takes the chain lock up front."""

    async def worker(user_id: uuid.UUID) -> None:
        for index in range(units):
            async with database.unit_of_work(actor_id=user_id) as uow, uow.write() as session:
                if lock_first:  # the naive design: the chain's tip locked for the whole unit
                    await session.execute(select(AuditChainHead.id).with_for_update())
                user = await identity_repo.get_user(session, user_id, for_update=True)
                assert user is not None
                user.full_name = f"Bench {index}"
                await asyncio.sleep(work_ms / 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(user_id) for user_id in user_ids))
    return len(user_ids) * units / (time.perf_counter() - started)


async def measure(url: str, workers: int, units: int, work_ms: float, runs: int) -> None:
    """Print the median throughput of each mode."""
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings(
        database_url=url, app_env="test", database_pool_size=workers + 2,
        sqlite_busy_timeout_ms=120_000,
    )  # fmt: skip
    database = Database(settings)
    try:
        async with database.unit_of_work() as uow, uow.write() as session:
            for _ in range(workers):
                session.add(
                    User(
                        username=f"b{uuid.uuid4().hex[:12]}", email=f"{uuid.uuid4().hex}@x.io",
                        password_hash="x" * 60, full_name="Bench",
                    )
                )  # fmt: skip
        async with database.unit_of_work() as uow, uow.read() as session:
            ids = list((await session.execute(select(User.id).limit(workers))).scalars())
        await run_units(database, ids, 3, 0)  # warm-up: connections, statement caches
        results: dict[str, list[float]] = {"audit": [], "no audit": [], "whole-unit lock": []}
        for _ in range(runs):
            results["audit"].append(await run_units(database, ids, units, work_ms))
            with audit_disabled():
                results["no audit"].append(await run_units(database, ids, units, work_ms))
            results["whole-unit lock"].append(
                await run_units(database, ids, units, work_ms, lock_first=True)
            )
        medians = {mode: statistics.median(figures) for mode, figures in results.items()}
        baseline = medians["no audit"]
        print(
            f"{database.dialect} (workers={workers}, units/worker={units}, work={work_ms} ms, "
            f"median of {runs})"
        )
        for mode, figure in medians.items():
            print(f"  {mode:<16} {figure:8.1f} units/s   {figure / baseline:5.2f} of no audit")
    finally:
        await database.dispose()


async def throwaway_postgres_url() -> tuple[Any, str]:
    """Start a private PostgreSQL cluster (the test suite's) and create a database in it."""
    from tests.support.postgres import ThrowawayPostgres  # noqa: PLC0415

    cluster = ThrowawayPostgres()
    admin = cluster.start()
    connection = await asyncpg.connect(admin.replace("postgresql+asyncpg", "postgresql"))
    await connection.execute("CREATE DATABASE bench")
    await connection.close()
    return cluster, admin.rsplit("/", 1)[0] + "/bench"


async def main() -> None:
    """Run the benchmark on SQLite and PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--work-ms", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        sqlite_url = f"sqlite+aiosqlite:///{workdir}/bench.db"
        await measure(sqlite_url, args.workers, args.units, args.work_ms, args.runs)
    cluster = None
    url = args.postgres_url
    if url is None:
        cluster, url = await throwaway_postgres_url()
    try:
        await measure(url, args.workers, args.units, args.work_ms, args.runs)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
