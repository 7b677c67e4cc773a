"""The unit of work: serialized sessions, one snapshot per operation, committed write units."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from db.base import INCLUDE_DELETED
from db.session import Database
from tests.support.models import Widget, create_test_tables


@pytest.fixture
async def widgets(database: Database) -> Database:
    await create_test_tables(database.engine)
    return database


async def _insert(database: Database, *names: str) -> list[uuid.UUID]:
    async with database.unit_of_work().write() as session:
        rows = [Widget(name=name) for name in names]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(database: Database) -> None:
    async with database.engine.connect() as connection:
        journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
        busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
    assert (journal, foreign_keys, busy) == ("wal", 1, 5000)


async def test_concurrent_write_units_queue_instead_of_failing(widgets: Database) -> None:
    [widget_id] = await _insert(widgets, "shared")

    async def increment() -> None:
        async with widgets.unit_of_work().write() as session:
            row = (
                await session.execute(
                    select(Widget).where(Widget.id == widget_id).with_for_update()
                )
            ).scalar_one()
            await asyncio.sleep(0.01)  # widen the race window between read and write
            row.counter += 1

    await asyncio.gather(*(increment() for _ in range(8)))

    async with widgets.unit_of_work() as uow, uow.read() as session:
        counter = (await session.execute(select(Widget.counter))).scalar_one()
    assert counter == 8


async def test_sqlite_writers_of_one_process_take_turns_and_postgresql_writers_do_not(
    widgets: Database, backend: str
) -> None:
    """On SQLite a second writer waits in the process (not in SQLite's sleeping busy handler)."""
    first_inside, release = asyncio.Event(), asyncio.Event()
    inside: list[str] = []

    async def writer(name: str, hold: bool) -> None:
        async with widgets.unit_of_work().write() as session:
            inside.append(name)
            session.add(Widget(name=name))
            await session.flush()  # the transaction has really begun (SQLite: the write lock)
            if hold:
                first_inside.set()
                await release.wait()

    holder = asyncio.create_task(writer("first", hold=True))
    await first_inside.wait()
    second = asyncio.create_task(writer("second", hold=False))
    await asyncio.sleep(0.2)
    if backend == "sqlite":
        assert inside == ["first"]  # queued behind the open write transaction,
        assert widgets.engine.pool.checkedout() == 1  # holding no connection while it waits
    else:
        assert inside == ["first", "second"]
        await second
    release.set()
    await asyncio.gather(holder, second)
    async with widgets.unit_of_work() as uow, uow.read() as session:
        names = set((await session.execute(select(Widget.name))).scalars())
    assert names == {"first", "second"}


async def test_write_unit_rolls_back_everything_when_it_raises(widgets: Database) -> None:
    uow = widgets.unit_of_work()
    with pytest.raises(RuntimeError, match="boom"):
        async with uow.write() as session:
            session.add(Widget(name="never"))
            await session.flush()
            raise RuntimeError("boom")
    async with widgets.unit_of_work() as reader, reader.read() as session:
        assert (await session.execute(select(Widget))).all() == []


async def test_reads_in_one_operation_see_one_snapshot(widgets: Database) -> None:
    [widget_id] = await _insert(widgets, "snap")
    uow = widgets.unit_of_work()
    async with uow.read() as session:
        first = (await session.execute(select(Widget.counter))).scalar_one()

    # Another request commits a change while this operation is still running.
    async with widgets.unit_of_work().write() as other:
        row = await other.get(Widget, widget_id)
        assert row is not None
        row.counter = 99

    async with uow.read() as session:
        second = (await session.execute(select(Widget.counter))).scalar_one()
    assert (first, second) == (0, 0)

    # A write unit of this operation ends the snapshot; later reads see committed data.
    async with uow.write() as session:
        session.add(Widget(name="after"))
    async with uow.read() as session:
        counters = sorted((await session.execute(select(Widget.counter))).scalars())
    assert counters == [0, 99]
    await uow.close()


async def test_concurrent_readers_of_one_unit_of_work_are_serialized(widgets: Database) -> None:
    await _insert(widgets, *(f"w{i}" for i in range(20)))
    uow = widgets.unit_of_work()

    async def read_names() -> list[str]:
        async with uow.read() as session:
            return list(
                (await session.execute(select(Widget.name).order_by(Widget.name))).scalars()
            )

    results = await asyncio.gather(*(read_names() for _ in range(10)))
    await uow.close()
    assert all(result == results[0] for result in results)
    assert len(results[0]) == 20


async def test_soft_deleted_rows_are_hidden_unless_asked_for(widgets: Database) -> None:
    keep_id, gone_id = await _insert(widgets, "keep", "gone")
    async with widgets.unit_of_work().write() as session:
        gone = await session.get(Widget, gone_id)
        assert gone is not None
        gone.soft_delete()

    async with widgets.unit_of_work() as uow, uow.read() as session:
        visible = list((await session.execute(select(Widget.id))).scalars())
        everything = list(
            (
                await session.execute(
                    select(Widget.id).execution_options(**{INCLUDE_DELETED: True})
                )
            ).scalars()
        )
    assert visible == [keep_id]
    assert sorted(everything) == sorted([keep_id, gone_id])


async def test_actor_and_timestamps_are_stamped_in_utc(widgets: Database) -> None:
    creator, editor = uuid.uuid4(), uuid.uuid4()
    async with widgets.unit_of_work(actor_id=creator).write() as session:
        widget = Widget(name="stamped")
        session.add(widget)
    async with widgets.unit_of_work(actor_id=editor).write() as session:
        loaded = await session.get(Widget, widget.id)
        assert loaded is not None
        loaded.name = "edited"

    async with widgets.unit_of_work() as uow, uow.read() as session:
        row = (await session.execute(select(Widget))).scalar_one()
    assert (row.created_by, row.updated_by) == (creator, editor)
    assert row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.updated_at >= row.created_at
    assert datetime.now(UTC) - row.created_at < timedelta(minutes=1)


async def test_aware_datetimes_are_normalised_and_naive_ones_refused(widgets: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    async with widgets.unit_of_work().write() as session:
        widget = Widget(name="tz", created_at=datetime(2026, 1, 1, 12, 0, tzinfo=plus_two))
        session.add(widget)
    async with widgets.unit_of_work() as uow, uow.read() as session:
        stored = (await session.execute(select(Widget.created_at))).scalar_one()
    assert stored == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert stored.tzinfo is not None

    with pytest.raises(Exception, match="naive datetime"):
        async with widgets.unit_of_work().write() as session:
            session.add(Widget(name="naive", created_at=datetime(2026, 1, 1)))
            await session.flush()


async def test_ping_and_wait_until_reachable(database: Database) -> None:
    await database.ping()
    await database.wait_until_reachable(attempts=1, delay_seconds=0)
