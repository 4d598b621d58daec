"""Reading the changelog ahead of the assignment (NFR-001): what a read-ahead plus the records
written after it restores is what a restore reading everything after the assignment restores,
on a real broker, whatever the previous owner wrote meanwhile."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dq_monitor.kafka import changelog
from tests.integration.conftest import Kafka, config_for

pytestmark = pytest.mark.integration

SOURCES = """
  - name: orders
    freshness: {max_staleness: 1h}
"""

Applied = dict[tuple[int, str], changelog.StateValue]


@pytest.mark.req("NFR-001", "NFR-006")
async def test_a_restore_resumed_from_a_read_ahead_equals_a_restore_after_assignment(
    kafka: Kafka,
) -> None:
    topic = kafka.topic("changelog")
    await kafka.create(topic, partitions=3)
    cfg = config_for(kafka, SOURCES).kafka
    producer = await kafka.producer()

    async def write(p: int, key: str, value: dict[str, Any] | None) -> int:
        meta = await producer.send_and_wait(
            topic, None if value is None else orjson.dumps(value), key=key.encode(),
            partition=p)
        return int(meta.offset)

    for p in range(3):
        await write(p, "gone", {"v": 0})  # before the snapshot: not restored from it
        for v in range(3):
            for k in range(6):
                await write(p, f"k{k}", {"v": v})
        await write(p, changelog.SNAPSHOT_KEY, {"from": 7})  # the last two rounds suffice
    ahead = await changelog.read_ahead(cfg, topic, range(3), producer, window=4)
    # The previous owner goes on writing: an update, a delete and a new key everywhere; on
    # partition 1 a newer snapshot, on partition 2 one older than the one read ahead.
    for p in range(3):
        await write(p, "k1", {"v": "later"})
        await write(p, "k2", None)
        first_new = await write(p, "k9", {"v": "new"})
    await write(1, changelog.SNAPSHOT_KEY, {"from": first_new})
    await write(2, changelog.SNAPSHOT_KEY, {"from": 0})

    async def restored(**kwargs: Any) -> tuple[Applied, changelog.Restored]:
        applied: Applied = {}
        done = await changelog.restore_state(
            cfg, topic, range(3), producer,
            lambda p, key, value: applied.__setitem__((p, key), value), window=4, **kwargs)
        return applied, done

    resumed, done = await restored(ahead=ahead)
    whole, _ = await restored()
    assert resumed == whole
    assert {k for (p, k) in whole if p == 1} == {"k9"}  # the newer snapshot holds the state
    assert whole[(0, "k1")] == {"v": "later"} and whole[(0, "k2")] is None
    assert (0, "gone") not in whole and whole[(2, "gone")] == {"v": 0}
    assert done.started_at == {0: 7, 1: first_new, 2: 0}
