"""Silences between instances on a real broker (NFR-008, FR-018): the topic's order decides,
whatever the instances' clocks say, and tombstones keep the set bounded."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from dq_monitor.silence import SilenceBook, SilenceRequest, SilenceView
from dq_monitor.testing import make_alert, run_until
from tests.integration.conftest import Kafka, config_for

pytestmark = pytest.mark.integration

BEHIND = timedelta(minutes=10)


@contextlib.asynccontextmanager
async def two_instances(kafka: Kafka) -> AsyncIterator[tuple[SilenceBook, SilenceBook,
                                                              list[float]]]:
    """Two instances' books on one silences topic: ``a`` on the real clock, ``b`` on a clock the
    test sets (the list's one value)."""
    cfg = config_for(kafka, "  - name: warehouse.orders")
    b_clock = [time.time() - BEHIND.total_seconds()]
    a = SilenceBook(cfg.kafka, sweep_every=0.2)
    b = SilenceBook(cfg.kafka, clock=lambda: b_clock[0], sweep_every=0.2)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run, stop)
        tg.start_soon(b.run, stop)
        with anyio.fail_after(30):
            await a.loaded.wait()
            await b.loaded.wait()
        try:
            yield a, b, b_clock
        finally:
            stop.set()


@pytest.mark.req("NFR-008", "FR-018")
async def test_an_instance_with_its_clock_behind_expires_for_everyone_and_tombstones_follow(
        kafka: Kafka) -> None:
    async with two_instances(kafka) as (a, b, b_clock):
        await expire_and_forget(kafka, a, b, b_clock)


async def expire_and_forget(kafka: Kafka, a: SilenceBook, b: SilenceBook,
                            b_clock: list[float]) -> None:
    alert = make_alert()
    created = await a.add(SilenceRequest(source="warehouse.*", created_by="ana",
                                         comment="backfill", duration="2h"), datetime.now(UTC))
    await run_until(lambda: b.set.get(created.id) == created, what="b reads the silence")
    assert b.silencing(alert, datetime.now(UTC))

    # b's clock is 10 minutes behind a's: by b's clock the silence has not even started
    b_now = datetime.fromtimestamp(b_clock[0], UTC)
    ended = await b.expire(created.id, b_now)
    assert SilenceView.of(ended, b_now).state == "expired"  # the answer
    await run_until(lambda: a.set.get(created.id) == ended, what="a reads the expiry")
    for book in (a, b):  # and every instance agrees, by any clock
        for clock in (b_now, datetime.now(UTC), created.ends_at - timedelta(seconds=1)):
            assert book.silencing(alert, clock) == []
            assert book.set.listing(clock) == []
    assert [s.id for s in a.set.listing(datetime.now(UTC), expired=True)] == [created.id]

    # a week later by b's clock, b writes the tombstone; both forget the silence
    b_clock[0] = time.time() + timedelta(days=7, minutes=1).total_seconds()
    await run_until(lambda: len(a.set) == 0 and len(b.set) == 0, what="both forget it")
    assert b.stats["tombstoned"] >= 1 and a.stats["tombstoned"] == 0
    records = await kafka.read_records(a.topic, lambda rs: any(r.value is None for r in rs))
    assert [r.value is None for r in records if r.key == created.id.encode()][-1]
    assert a.stats["unreadable"] == b.stats["unreadable"] == 0
