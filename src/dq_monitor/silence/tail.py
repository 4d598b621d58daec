"""The silences of the deployment, kept current from the silences topic, and written to it.

Every monitor and router instance runs one ``SilenceBook``: it reads the whole compacted topic at
start (``loaded``) and follows it, so all instances see the same silences and they survive
restarts. A write is acknowledged by the broker before it is answered, and applied locally at
once, so the instance that took it holds it immediately; the others see it within a fetch.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from dq_monitor.config import KafkaConfig
from dq_monitor.errors import UnknownSilence
from dq_monitor.events import Alert
from dq_monitor.kafka.backoff import quiet_stop
from dq_monitor.kafka.clients import producer_kwargs
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.kafka.topics import COMPACT
from dq_monitor.silence.model import Silence, SilenceRequest
from dq_monitor.silence.store import SilenceSet

log = logging.getLogger(__name__)


class SilenceBook:
    def __init__(self, cfg: KafkaConfig) -> None:
        self.cfg = cfg
        self.topic = cfg.silences
        self.set = SilenceSet()
        self.stats: Counter[str] = Counter()
        self.tail = TopicTail(cfg, self.topic, self._apply, create=(1, COMPACT))
        self._producer: AIOKafkaProducer | None = None
        self._lock = anyio.Lock()

    @property
    def loaded(self) -> anyio.Event:
        return self.tail.loaded

    async def run(self, stop: anyio.Event) -> None:
        try:
            await self.tail.run(stop)
        finally:
            with anyio.CancelScope(shield=True):
                await quiet_stop(self._producer)

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        def unreadable(reason: str) -> None:
            self.stats["unreadable"] += 1
            log.warning("silences topic %s: record at offset %d of partition %d skipped: %s",
                        self.topic, record.offset, record.partition, reason)

        self.set.apply(record.key, record.value, unreadable)

    def silencing(self, alert: Alert, now: datetime) -> list[Silence]:
        return self.set.silencing(alert, now)

    async def add(self, request: SilenceRequest, now: datetime) -> Silence:
        silence = request.create(now)
        await self._write(silence)
        log.info("silence %s added by %s until %s: %s", silence.id, silence.created_by,
                 silence.ends_at.isoformat(), silence.comment)
        return silence

    async def expire(self, silence_id: str, now: datetime) -> Silence:
        current = self.set.get(silence_id)
        if current is None:
            raise UnknownSilence(f"silence {silence_id!r}: no such silence")
        ended = current.expired_at(now)
        if ended is not current:
            await self._write(ended)
            log.info("silence %s expired", silence_id)
        return ended

    async def _write(self, silence: Silence) -> None:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_kwargs(self.cfg))
                await producer.start()
                self._producer = producer
        await self._producer.send_and_wait(self.topic, key=silence.id.encode(),
                                           value=silence.to_json())
        self.set.put(silence)
