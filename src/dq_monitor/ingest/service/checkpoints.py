"""Checkpoints: state, snapshot cycles, then offsets (NFR-004, NFR-001)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from functools import partial

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from dq_monitor.collector import release_free_memory
from dq_monitor.ingest import cadence
from dq_monitor.ingest.observing import is_state_key
from dq_monitor.ingest.service.base import (
    NO_HEADERS,
    Record,
    _InFlight,
    log,
)
from dq_monitor.ingest.service.publish import (
    PublishMixin,
)
from dq_monitor.kafka import changelog


class CheckpointMixin(PublishMixin):
    """Checkpoints: the changed state and snapshot cycle per partition, then the input offsets once
    that state is durable (NFR-004)."""

    def _changed(self) -> int:
        """State records the next checkpoint would write, at most (``ingest.cadence``)."""
        monitor = self.monitor
        return (len(monitor.dirty) + monitor.dirty_series + len(monitor.tombstones)
                + len(self.observer.dirty))

    async def _checkpoint(self, consumer: AIOKafkaConsumer, *, wait: bool = False) -> None:
        """Send the state changed since the last checkpoint; its input offsets are committed
        once that state is acknowledged (``_checkpointed``). NFR-004 order: alerts and dead
        letters durable, then state, then offsets. Every ``kafka.commit_interval`` (or
        ``kafka.commit_records`` records; a large one later, ``ingest.cadence``), not every batch:
        a series that changed many times is written once, and a crash re-reads at most an
        interval or two. Neither the state nor
        the commit holds up the loop unless ``wait`` (at shutdown)."""
        await self._settle()  # alerts and dead letters durable first
        if self._state_sent is not None:
            await self._checkpointed(consumer)  # the previous checkpoint, in order
        self._checkpointed_at = time.monotonic()
        self._read_since_checkpoint = 0
        records = self._state_records()
        self.stats["checkpoints"] += 1
        self.stats["checkpoint.records"] += len(records)
        offsets, self._uncommitted = self._uncommitted, {}
        sent = _InFlight(records, [], [], [])
        self._state_sent = sent
        # A failed send leaves it without acks: ``_checkpointed`` writes it again, retrying.
        with contextlib.suppress(KafkaError):
            sent.acks = asyncio.gather(*await self._send_batched(records),
                                       return_exceptions=True)
        sent.offsets = offsets
        if wait:
            await self._checkpointed(consumer)
            if self._committing is not None:
                await self._committing

    def _state_records(self) -> list[Record]:
        """A checkpoint's changelog records: per owned partition, the end marker of a snapshot
        cycle that completed, the state changed since the last checkpoint, and the owed keys
        of the running cycle it refreshes (``state.snapshots``)."""
        topic = self.changelog_topic
        changed = [*self.monitor.take_dirty(), *self.observer.take_dirty()]
        written: dict[int, list[str]] = {p: [] for p in self.monitor.owned}
        for p, key, _ in changed:
            written.setdefault(p, []).append(key)
        markers: list[Record] = []
        refreshed: list[Record] = []
        for p in sorted(self.monitor.owned):
            plan = self.snapshots.plan(p, written[p], partial(self._state_keys, p))
            if plan.marker_from is not None:
                marker, start = changelog.snapshot_marker(plan.marker_from)
                markers.append((topic, marker, start, p, NO_HEADERS))
            for key in plan.refresh:
                value = (self.observer.snapshot(key) if is_state_key(key)
                         else self.monitor.snapshot(key))
                refreshed.append((topic, key.encode(), changelog.encode(value), p,
                                  NO_HEADERS))
        return [*markers,
                *[(topic, key.encode(), changelog.encode(value), p, NO_HEADERS)
                  for p, key, value in changed],
                *refreshed]

    def _state_keys(self, partition: int) -> list[str]:
        return [*self.monitor.state_keys(partition), *self.observer.state_keys(partition)]

    async def _checkpointed(self, consumer: AIOKafkaConsumer) -> None:
        """Once the last checkpoint's state is durable (re-sent through outages if a send
        failed), commit its offsets in the background. A snapshot cycle learns where its
        records landed; one whose records were re-sent or refused starts over."""
        sent, self._state_sent = self._state_sent, None
        assert sent is not None
        results = [] if sent.acks is None else await asyncio.shield(sent.acks)
        if sent.acks is None or any(isinstance(r, BaseException) for r in results):
            self.snapshots.restart({r[3] for r in sent.records if r[3] is not None})
            await self._refused(sent.records, await self._write_all(sent.records))
        else:
            self._written(sent.records)
            first: dict[int, int] = {}
            for meta in results:
                p, offset = meta.partition, meta.offset
                if offset >= 0 and offset < first.get(p, offset + 1):
                    first[p] = offset
            count = Counter(r[3] for r in sent.records)
            for p, offset in first.items():
                self.snapshots.acked(p, offset, count[p])
        if len(sent.records) > cadence.SMALL:
            sent.records.clear()
            sent.acks = None  # and its acknowledgements: freed before the trim, not after it
            results.clear()
            release_free_memory()  # NFR-005: the burst's buffers, not its high-water mark
        if sent.offsets:
            if self._committing is not None:
                await self._committing  # commits stay in order
            self._committing = asyncio.create_task(self._commit(consumer, sent.offsets))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        owned = {tp: o for tp, o in offsets.items() if tp in consumer.assignment()}
        if not owned:
            return
        try:
            await consumer.commit(owned)
            log.debug("committed %s", {f"{tp.topic}[{tp.partition}]": o for tp, o in
                                        owned.items()})
        except CommitFailedError:
            # The group rebalanced: the new owner re-reads these records (at least once).
            log.info("commit skipped after a rebalance; records will be re-read")
        except KafkaError as exc:
            log.warning("commit failed (%s); records will be re-read", type(exc).__name__)
