"""Acknowledgements (FR-027): "I'm on it" for a firing alert, kept in a compacted topic.

``POST /api/v1/alerts/{fingerprint}/ack`` (or ``dq-monitor ack``) writes one record keyed by the
fingerprint; every instance follows the whole topic (``AckBook``), so the router that owns the
alert's reminders (or its group's) sees it whichever instance took the write, and it survives
restarts and failovers. An acknowledgement covers the alert's episode as it stood when it was
made: it stops reminders until the alert resolves or escalates (a firing alert detected after
the acknowledgement — a re-fire or a higher severity — is news again). Bounded: one record per
fingerprint; an acknowledgement is forgotten (tombstoned) ``KEEP`` after it was made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dq_monitor.config import KafkaConfig
from dq_monitor.events import Alert, Timestamp
from dq_monitor.kafka.backoff import pause, quiet_stop
from dq_monitor.kafka.clients import producer_kwargs
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.kafka.topics import COMPACT

log = logging.getLogger(__name__)

#: An acknowledgement older than this is forgotten (its episode has long resolved or been
#: re-acknowledged).
KEEP = timedelta(days=7)
SWEEP_EVERY = 3600.0


class AckRequest(BaseModel):
    """The body of ``POST /api/v1/alerts/{fingerprint}/ack``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(default="operator", min_length=1, max_length=200)
    comment: str = Field(default="", max_length=2000)


class Ack(BaseModel):
    """An acknowledgement as stored and served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    by: str
    comment: str
    at: Timestamp

    def covers(self, alert: Alert) -> bool:
        """Whether this acknowledgement covers ``alert``: it was detected before the
        acknowledgement was made (a re-fire or an escalation since is news again)."""
        return alert.fingerprint == self.fingerprint and alert.detected_at <= self.at


class AckBook:
    """The acknowledgements of the deployment, followed from their topic, and written to it."""

    def __init__(self, cfg: KafkaConfig, *, clock: Callable[[], float] = time.time,
                 on_ack: Callable[[Ack], None] | None = None) -> None:
        self.cfg, self.clock, self.on_ack = cfg, clock, on_ack
        self.topic = cfg.acks
        self.acks: dict[str, Ack] = {}
        self.unreadable = 0
        self.tail = TopicTail(cfg, self.topic, self._apply, create=(1, COMPACT))
        self._producer: AIOKafkaProducer | None = None
        self._lock = anyio.Lock()

    @property
    def loaded(self) -> anyio.Event:
        return self.tail.loaded

    def get(self, fingerprint: str) -> Ack | None:
        return self.acks.get(fingerprint)

    def covering(self, alert: Alert) -> Ack | None:
        ack = self.acks.get(alert.fingerprint)
        return ack if ack is not None and ack.covers(alert) else None

    async def run(self, stop: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sweep, stop)
                await self.tail.run(stop)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await quiet_stop(self._producer)

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is None:
            self.unreadable += 1
            return
        fp = record.key.decode("utf-8", "replace")
        if record.value is None:
            self.acks.pop(fp, None)
            return
        try:
            ack = Ack.model_validate_json(record.value)
        except (ValidationError, ValueError):
            self.unreadable += 1
            log.warning("acks topic %s: unreadable record at offset %d skipped", self.topic,
                        record.offset)
            return
        if ack.fingerprint != fp:
            self.unreadable += 1
            return
        self._put(ack)

    def _put(self, ack: Ack) -> None:
        old = self.acks.get(ack.fingerprint)
        if old is not None and old.at > ack.at:
            return
        self.acks[ack.fingerprint] = ack
        if self.on_ack is not None:
            self.on_ack(ack)

    async def add(self, fingerprint: str, request: AckRequest, now: datetime) -> Ack:
        """Store an acknowledgement of ``fingerprint`` made at ``now``; answered once durable."""
        ack = Ack(fingerprint=fingerprint, by=request.by, comment=request.comment, at=now)
        value = ack.model_dump_json().encode()
        stored = Ack.model_validate_json(value)
        await self._send(fingerprint, value)
        self._put(stored)
        log.info("alert %s acknowledged by %s: %s", fingerprint, ack.by, ack.comment)
        return stored

    async def _sweep(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            await pause(SWEEP_EVERY, stop)
            now = datetime.fromtimestamp(self.clock(), UTC)
            for fp in [fp for fp, a in self.acks.items() if now - a.at > KEEP]:
                try:
                    await self._send(fp, None)
                except Exception as exc:  # tried again at the next sweep
                    log.warning("acks topic %s: tombstone not written (%s)", self.topic,
                                type(exc).__name__)
                    break
                self.acks.pop(fp, None)

    async def _send(self, key: str, value: bytes | None) -> None:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_kwargs(self.cfg))
                await producer.start()
                self._producer = producer
        await self._producer.send_and_wait(self.topic, key=key.encode(), value=value)
