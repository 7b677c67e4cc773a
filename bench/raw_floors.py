"""Baselines measured in the same run as the workloads: bcrypt checks and raw transfer writes.

* `bcrypt_floor`: bcrypt cost-12 checks per second on every core (one process per core), the most
  logins per second any server on this machine could answer.
* `transfer_floor`: the writes of one transfer (lock two balances in id order, update both,
  insert two ledger lines and one audit row, commit) with the bare driver (asyncpg, or aiosqlite
  with `BEGIN IMMEDIATE`) on scratch tables in the same database, from `concurrency` tasks.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiosqlite
import asyncpg
import bcrypt
from sqlalchemy.engine import make_url

SCRATCH = [
    "DROP TABLE IF EXISTS floor_audit",
    "DROP TABLE IF EXISTS floor_lines",
    "DROP TABLE IF EXISTS floor_accounts",
    "CREATE TABLE floor_accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE floor_lines (id VARCHAR(36) PRIMARY KEY, account_id INTEGER NOT NULL,"
    " amount BIGINT NOT NULL, balance_after BIGINT NOT NULL, created_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE floor_audit (id VARCHAR(36) PRIMARY KEY, entity_id VARCHAR(36) NOT NULL,"
    " old_values TEXT NOT NULL, new_values TEXT NOT NULL, created_at VARCHAR(40) NOT NULL)",
]
ACCOUNTS = 20
START = 1_000_000


def _checks_for(seconds: float) -> int:
    hashed = bcrypt.hashpw(b"Demo-Ledger-2026!", bcrypt.gensalt(12))
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        bcrypt.checkpw(b"Demo-Ledger-2026!", hashed)
        done += 1
    return done


def bcrypt_floor(seconds: float = 6.0) -> float:
    """bcrypt cost-12 checks per second using every core."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        started = time.perf_counter()
        total = sum(pool.map(_checks_for, [seconds] * cores))
        return total / (time.perf_counter() - started)


def _pairs(task: int) -> tuple[int, int]:
    first = (task * 2) % ACCOUNTS + 1
    return first, first % ACCOUNTS + 1


async def _postgres_floor(url: str, concurrency: int, seconds: float) -> tuple[int, bool]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    async with pool.acquire() as setup:
        for statement in SCRATCH:
            await setup.execute(statement)
        await setup.executemany(
            "INSERT INTO floor_accounts VALUES ($1, $2)",
            [(n, START) for n in range(1, ACCOUNTS + 1)],
        )
    deadline = time.perf_counter() + seconds

    async def worker(task: int) -> int:
        done, (a, b) = 0, _pairs(task)
        while time.perf_counter() < deadline:
            async with pool.acquire() as db, db.transaction():
                rows = await db.fetch(
                    "SELECT id, balance FROM floor_accounts WHERE id = ANY($1) ORDER BY id"
                    " FOR UPDATE", [a, b]
                )  # fmt: skip
                balance = {row["id"]: row["balance"] for row in rows}
                await db.execute(
                    "UPDATE floor_accounts SET balance = $1 WHERE id = $2", balance[a] - 1, a
                )
                await db.execute(
                    "UPDATE floor_accounts SET balance = $1 WHERE id = $2", balance[b] + 1, b
                )
                now = time.time()
                await db.executemany(
                    "INSERT INTO floor_lines VALUES ($1, $2, $3, $4, $5)",
                    [(str(uuid.uuid4()), a, -1, balance[a] - 1, str(now)),
                     (str(uuid.uuid4()), b, 1, balance[b] + 1, str(now))],
                )  # fmt: skip
                await db.execute(
                    "INSERT INTO floor_audit VALUES ($1, $2, $3, $4, $5)",
                    str(uuid.uuid4()), str(a), str(balance[a]), str(balance[a] - 1), str(now),
                )  # fmt: skip
            done += 1
            a, b = b, a
        return done

    total = sum(await asyncio.gather(*(worker(n) for n in range(concurrency))))
    async with pool.acquire() as check:
        money = await check.fetchval("SELECT sum(balance) FROM floor_accounts")
        for statement in SCRATCH[:3]:
            await check.execute(statement)
    await pool.close()
    return total, money == START * ACCOUNTS


async def _sqlite_floor(url: str, concurrency: int, seconds: float) -> tuple[int, bool]:
    path = make_url(url).database or ""
    setup = await aiosqlite.connect(path)
    for statement in SCRATCH:
        await setup.execute(statement)
    await setup.executemany(
        "INSERT INTO floor_accounts VALUES (?, ?)", [(n, START) for n in range(1, ACCOUNTS + 1)]
    )
    await setup.commit()
    deadline = time.perf_counter() + seconds

    async def worker(task: int) -> int:
        done, (a, b) = 0, _pairs(task)
        db = await aiosqlite.connect(path, timeout=60, isolation_level=None)
        while time.perf_counter() < deadline:
            await db.execute("BEGIN IMMEDIATE")
            cursor = await db.execute(
                "SELECT id, balance FROM floor_accounts WHERE id IN (?, ?) ORDER BY id", (a, b)
            )
            balance: dict[Any, Any] = dict(list(await cursor.fetchall()))
            await db.execute(
                "UPDATE floor_accounts SET balance = ? WHERE id = ?", (balance[a] - 1, a)
            )
            await db.execute(
                "UPDATE floor_accounts SET balance = ? WHERE id = ?", (balance[b] + 1, b)
            )
            now = str(time.time())
            await db.executemany(
                "INSERT INTO floor_lines VALUES (?, ?, ?, ?, ?)",
                [(str(uuid.uuid4()), a, -1, balance[a] - 1, now),
                 (str(uuid.uuid4()), b, 1, balance[b] + 1, now)],
            )  # fmt: skip
            await db.execute(
                "INSERT INTO floor_audit VALUES (?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), str(a), str(balance[a]), str(balance[a] - 1), now),
            )
            await db.execute("COMMIT")
            done += 1
            a, b = b, a
        await db.close()
        return done

    total = sum(await asyncio.gather(*(worker(n) for n in range(concurrency))))
    cursor = await setup.execute("SELECT sum(balance) FROM floor_accounts")
    money = (await cursor.fetchone() or [0])[0]
    for statement in SCRATCH[:3]:
        await setup.execute(statement)
    await setup.commit()
    await setup.close()
    return total, money == START * ACCOUNTS


async def transfer_floor(url: str, concurrency: int, seconds: float) -> tuple[float, bool]:
    """Raw transfers per second, and whether the scratch money was conserved."""
    started = time.perf_counter()
    if make_url(url).get_backend_name() == "sqlite":
        total, conserved = await _sqlite_floor(url, concurrency, seconds)
    else:
        total, conserved = await _postgres_floor(url, concurrency, seconds)
    return total / (time.perf_counter() - started), conserved
