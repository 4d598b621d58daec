"""Restoring the state of partitions gained in a rebalance (NFR-001, NFR-006)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from dq_monitor.collector import release_free_memory
from dq_monitor.ingest.observing import is_state_key
from dq_monitor.ingest.service.base import (
    StateRestoreError,
    log,
)
from dq_monitor.ingest.service.checkpoints import (
    CheckpointMixin,
)
from dq_monitor.kafka import changelog


class RestoreMixin(CheckpointMixin):
    """Partitions gained: their state restored from the changelog (read ahead during the join),
    failures retried and bounded (NFR-001, NFR-006)."""

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore state of newly owned partitions from the changelog, then start watching.

        Runs inside the client's rebalance callback, where an exception would only be logged by
        the client: a failure is kept in ``_restore_pending`` and retried by the loop instead.
        """
        observed = self.observer.topics
        # FR-028: observed partitions hold no home state; their numbers are not homes.
        self.observer.assign({tp for tp in assigned if tp.topic in observed}, self.clock())
        for tp in [tp for tp in self._positions if tp.topic in observed]:
            del self._positions[tp]  # read again from the committed offset
        if observed:
            log.info("observing %s", ", ".join(sorted(
                f"{tp.topic}[{tp.partition}]" for tp in self.observer.reading)) or "nothing")
        numbers = {tp.partition for tp in assigned if tp.topic not in observed}
        lost = (self.revoked_pending | self.monitor.owned) - numbers
        self.monitor.revoke(lost)
        self.observer.revoke_homes(lost)
        self.snapshots.drop(lost)
        self.revoked_pending = set()
        self._restore_pending &= numbers
        await self._restore(numbers - self.monitor.owned)
        log.info("assigned partitions %s (%d sources watched)", sorted(numbers),
                 len(self.monitor.sources))
        self.ready.set()

    async def _read_ahead(self, new: set[int]) -> dict[int, changelog.SnapshotScan]:
        """The partitions of ``new`` read ahead (NFR-001), once. A read-ahead still running
        is awaited only if every partition it reads was assigned; otherwise it is cancelled
        (the others' work is discarded). A failed one only costs the time it took."""
        task, self._ahead = self._ahead, None
        if task is None:
            return {}
        if not task.done() and not new >= set(range(self.monitor.partition_count)):
            task.cancel()
        try:
            scans = await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            return {}
        except Exception as exc:
            log.warning("reading %s ahead of the assignment failed (%s: %s); restoring after "
                        "it", self.changelog_topic, type(exc).__name__, exc)
            return {}
        return {p: scan for p, scan in scans.items() if p in new}

    async def _restore(self, new: set[int]) -> None:
        ahead = await self._read_ahead(new)
        if not new:
            return
        assert self._producer is not None
        now = self.clock()
        try:
            done = await changelog.restore_state(
                self.kafka, self.changelog_topic, new, self._producer,
                lambda p, key, value: (self.observer.restore(p, key, value) if is_state_key(key)
                                       else self.monitor.restore(p, key, value, now)),
                on_unreadable=self._state_dead.append, ahead=ahead,
            )
        except Exception as exc:  # broker errors or anything else: loud, retried, bounded
            self._restore_pending |= new
            self._restore_error = f"{type(exc).__name__}: {exc}"
            mono = time.monotonic()
            if self._restore_failing_since is None:
                self._restore_failing_since = mono
            self._restore_retry_at = mono + self._restore_backoff.next()
            self.stats["restore.failed"] += 1
            self.telemetry.restore_failures.add(1, {"topic": self.changelog_topic})
            log.error("state restore of %s partitions %s failed (%s); not ready, retrying",
                      self.changelog_topic, sorted(new), self._restore_error)
            return
        self._restore_s = done.seconds
        del ahead
        release_free_memory()  # NFR-005: the records read, not their high-water mark
        for p in new:
            end = done.ends.get(p)
            self.snapshots.restored(p, done.read.get(p, 0), done.keys.get(p, 0),
                                    None if end is None else end + 1)
        self.stats["restore.replayed"] += done.replayed
        self.telemetry.records_replayed.add(done.replayed, {"topic": self.changelog_topic})
        self._restore_pending -= new
        if not self._restore_pending:
            self._restore_failing_since = None
            self._restore_backoff.reset()
        self.monitor.assign(new, self.clock())
        if self._state_dead:
            self.stats["restore.unreadable"] += len(self._state_dead)

    async def _retry_restore(self) -> None:
        """Called by the loop while a restore is pending: retry, or give up after the deadline."""
        mono = time.monotonic()
        since = self._restore_failing_since
        if since is not None and mono - since > self.restore_deadline_s:
            raise StateRestoreError(
                f"state of {self.changelog_topic} partitions {sorted(self._restore_pending)} "
                f"not restored after {self.restore_deadline_s:.0f}s ({self._restore_error})")
        if mono >= self._restore_retry_at:
            await self._restore(set(self._restore_pending))
