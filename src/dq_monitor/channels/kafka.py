"""Kafka forward (FR-008): the alert payload (plus ``repeat``) to ``topic``, keyed by fingerprint.

The producer is the caller's (the router's own, already connected), so this adapter owns no
connection and closing it closes nothing. Errors the client marks retriable (leader moves,
connection loss) and produce timeouts are retryable; the rest (record too large, not authorised)
are final.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from aiokafka.errors import KafkaError, KafkaTimeoutError

from dq_monitor.channels.base import alert_payload
from dq_monitor.config import KafkaChannel as KafkaConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert


class Producer(Protocol):
    """What this channel needs of ``aiokafka.AIOKafkaProducer``."""

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


class KafkaChannel:
    def __init__(self, name: str, cfg: KafkaConfig, producer: Producer) -> None:
        self.name = name
        self.cfg = cfg
        self._producer = producer

    @classmethod
    def from_config(cls, name: str, cfg: KafkaConfig, *, producer: Producer | None = None,
                    **_deps: object) -> KafkaChannel:
        if producer is None:
            raise TypeError(f"channel {name!r}: a kafka channel needs producer=")
        return cls(name, cfg, producer)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        try:
            await self._producer.send_and_wait(
                self.cfg.topic,
                value=orjson.dumps(alert_payload(alert, repeat)),
                key=alert.fingerprint.encode(),
            )
        except KafkaError as exc:
            retryable = bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
            raise DeliveryError(self.name, f"produce to {self.cfg.topic!r} failed "
                                f"({type(exc).__name__})", retryable=retryable) from None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"KafkaChannel({self.name!r}, topic={self.cfg.topic!r})"
