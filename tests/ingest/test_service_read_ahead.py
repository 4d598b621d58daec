"""What the service does with the changelog read ahead of its first assignment (NFR-001): the
assigned partitions' scans are used, the others dropped, and a read still running when only
some partitions were assigned is cancelled rather than waited for."""

from __future__ import annotations

import asyncio

import pytest

from dq_monitor.config import parse_config
from dq_monitor.ingest.service import MonitorService
from dq_monitor.kafka.changelog import SnapshotScan

CONFIG = """
kafka: {bootstrap_servers: "x:9092", input_topics: [in], alert_topic: alerts,
        dead_letter_topic: dead, group_id: g}
sources: [{name: orders, freshness: {max_staleness: 1h}}]
"""


def service(partitions: int = 4) -> MonitorService:
    svc = MonitorService(parse_config(CONFIG, env={}))
    svc.monitor.partition_count = partitions
    return svc


def scans(parts: range) -> dict[int, SnapshotScan]:
    return {p: SnapshotScan(0, 10, 0, 10, 10, done=True) for p in parts}


@pytest.mark.req("NFR-001")
async def test_a_finished_read_ahead_gives_the_assigned_partitions_and_only_once() -> None:
    svc = service()
    read = scans(range(4))

    async def done() -> dict[int, SnapshotScan]:
        return read

    svc._ahead = asyncio.create_task(done())
    await asyncio.sleep(0)
    assert await svc._read_ahead({1, 3}) == {1: read[1], 3: read[3]}
    assert await svc._read_ahead({0, 1, 2, 3}) == {}  # the next restore reads as before


@pytest.mark.req("NFR-001")
async def test_a_read_ahead_still_running_is_cancelled_for_a_partial_assignment() -> None:
    svc = service()
    reading = asyncio.Event()

    async def slow() -> dict[int, SnapshotScan]:
        reading.set()
        await asyncio.sleep(3600)
        return scans(range(4))

    task = svc._ahead = asyncio.create_task(slow())
    await reading.wait()
    assert await svc._read_ahead({0, 1}) == {}
    assert task.cancelled()


@pytest.mark.req("NFR-001")
async def test_a_read_ahead_still_running_is_awaited_when_every_partition_is_assigned() -> None:
    svc = service(2)
    release = asyncio.Event()

    async def slow() -> dict[int, SnapshotScan]:
        await release.wait()
        return scans(range(2))

    svc._ahead = asyncio.create_task(slow())
    asyncio.get_running_loop().call_later(0.05, release.set)
    assert set(await svc._read_ahead({0, 1})) == {0, 1}


@pytest.mark.req("NFR-001", "NFR-006")
async def test_a_failed_read_ahead_only_means_restoring_as_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = service()

    async def broken() -> dict[int, SnapshotScan]:
        raise OSError("connection reset")

    svc._ahead = asyncio.create_task(broken())
    assert await svc._read_ahead({0, 1, 2, 3}) == {}
    assert "ahead of the assignment failed (OSError: connection reset)" in caplog.text
