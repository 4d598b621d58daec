"""Kafka forward (FR-008): the alert payload to another topic, keyed by fingerprint."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from aiokafka.errors import KafkaError

from dq_monitor.channels.base import alert_payload
from dq_monitor.config import KafkaChannel as KafkaConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert


class Producer(Protocol):
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


class KafkaChannel:
    def __init__(self, name: str, cfg: KafkaConfig, producer: Producer) -> None:
        self.name = name
        self.cfg = cfg
        self._producer = producer

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        try:
            await self._producer.send_and_wait(self.cfg.topic,
                                               value=orjson.dumps(alert_payload(alert, repeat)),
                                               key=alert.fingerprint.encode())
        except KafkaError as exc:
            raise DeliveryError(self.name, f"produce failed ({type(exc).__name__})",
                                retryable=True) from None

    async def aclose(self) -> None:
        return None
