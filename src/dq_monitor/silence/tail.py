"""The silences of the deployment, kept current from the silences topic, and written to it.

Every monitor and router instance runs one ``SilenceBook``: it reads the whole compacted topic at
start (``loaded``) and follows it, so all instances see the same silences and they survive
restarts. A write is acknowledged by the broker before it is answered, and applied locally at
once at the offset the broker gave it, so the instance that took it holds it immediately; the
others see it within a fetch. Once loaded, it writes the tombstones that are due every
``sweep_every`` seconds (by its own clock: a tombstone a little early or late changes nothing
but how long an expired silence stays listed).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from dq_monitor.config import KafkaConfig
from dq_monitor.errors import UnknownSilence
from dq_monitor.events import Alert
from dq_monitor.kafka.backoff import pause, quiet_stop
from dq_monitor.kafka.clients import producer_kwargs
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.kafka.topics import COMPACT
from dq_monitor.silence.model import Silence, SilenceRequest
from dq_monitor.silence.store import Position, SilenceSet

log = logging.getLogger(__name__)

#: How often an instance looks for silences whose tombstone is due.
SWEEP_EVERY = 60.0


class SilenceBook:
    def __init__(self, cfg: KafkaConfig, *, clock: Callable[[], float] = time.time,
                 sweep_every: float = SWEEP_EVERY) -> None:
        self.cfg = cfg
        self.topic = cfg.silences
        self.set = SilenceSet()
        self.stats: Counter[str] = Counter()
        self.tail = TopicTail(cfg, self.topic, self._apply, create=(1, COMPACT))
        self.clock, self.sweep_every = clock, sweep_every
        self._producer: AIOKafkaProducer | None = None
        self._lock = anyio.Lock()

    @property
    def loaded(self) -> anyio.Event:
        return self.tail.loaded

    async def run(self, stop: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sweep, stop)
                await self.tail.run(stop)
                tg.cancel_scope.cancel()  # a sweep waiting on the broker must not delay a stop
        finally:
            with anyio.CancelScope(shield=True):
                await quiet_stop(self._producer)

    async def _sweep(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            if self.loaded.is_set():
                await self.write_tombstones(datetime.fromtimestamp(self.clock(), UTC))
            await pause(self.sweep_every, stop)

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        def unreadable(reason: str) -> None:
            self.stats["unreadable"] += 1
            log.warning("silences topic %s: record at offset %d of partition %d skipped: %s",
                        self.topic, record.offset, record.partition, reason)

        self.set.apply(record.key, record.value, unreadable, at=(record.partition, record.offset))

    def silencing(self, alert: Alert, now: datetime) -> list[Silence]:
        return self.set.silencing(alert, now)

    async def add(self, request: SilenceRequest, now: datetime) -> Silence:
        silence = await self._write(request.create(now))
        log.info("silence %s added by %s until %s: %s", silence.id, silence.created_by,
                 silence.ends_at.isoformat(), silence.comment)
        return silence

    async def expire(self, silence_id: str, now: datetime) -> Silence:
        current = self.set.get(silence_id)
        if current is None:
            raise UnknownSilence(f"silence {silence_id!r}: no such silence")
        ended = current.expire(now)
        if ended is current:
            return current
        log.info("silence %s expired", silence_id)
        return await self._write(ended)

    async def write_tombstones(self, now: datetime) -> int:
        """Write the tombstones due at ``now``; how many were written. A failed write is logged
        and counted, and tried again at the next sweep."""
        written = 0
        for silence_id in self.set.due_tombstones(now):
            try:
                at = await self._send(silence_id, None)
            except (KafkaError, OSError) as exc:
                self.stats["tombstone_failed"] += 1
                log.warning("silences topic %s: tombstone for %s not written (%s); trying again "
                            "later", self.topic, silence_id, type(exc).__name__)
                break
            self.set.forget(silence_id, at)
            self.stats["tombstoned"] += 1
            written += 1
        if written:
            log.info("silences topic %s: %d silence(s) ended over a week ago forgotten",
                     self.topic, written)
        return written

    async def _write(self, silence: Silence) -> Silence:
        """Store ``silence``; returns it as every instance reads it back (times in ms)."""
        value = silence.to_json()
        stored = Silence.model_validate_json(value)
        self.set.put(stored, await self._send(silence.id, value))
        return stored

    async def _send(self, key: str, value: bytes | None) -> Position:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_kwargs(self.cfg))
                await producer.start()
                self._producer = producer
        meta = await self._producer.send_and_wait(self.topic, key=key.encode(), value=value)
        return meta.partition, meta.offset
