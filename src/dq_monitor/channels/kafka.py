"""Kafka forward (FR-008, FR-020): the alert payload (plus ``repeat``) to ``topic``, keyed by
fingerprint.

Without ``bootstrap_servers`` the channel writes to the monitor's cluster with the router's own
producer (already connected; closing the channel closes nothing). With it, the channel owns a
producer for that other cluster, built from its own security settings, started on first use and
closed by ``aclose``. Each send is bounded by the channel's ``timeout``. Errors the client marks
retriable (leader moves, connection loss), timeouts and an unreachable cluster are retryable;
the rest (record too large, not authorised, a refused certificate or credential) are final.
"""

from __future__ import annotations

from typing import Any, Protocol

import anyio
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from dq_monitor.channels.base import alert_payload
from dq_monitor.config import KafkaChannel as KafkaConfig
from dq_monitor.errors import DeliveryError, KafkaAccessError
from dq_monitor.events import Alert
from dq_monitor.kafka import check_access, security_kwargs


class Producer(Protocol):
    """What this channel needs of ``aiokafka.AIOKafkaProducer``."""

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


class KafkaChannel:
    def __init__(self, name: str, cfg: KafkaConfig, producer: Producer | None) -> None:
        self.name = name
        self.cfg = cfg
        self._producer = producer
        self._own: AIOKafkaProducer | None = None
        self._starting = anyio.Lock()

    @classmethod
    def from_config(cls, name: str, cfg: KafkaConfig, *, producer: Producer | None = None,
                    **_deps: object) -> KafkaChannel:
        if cfg.bootstrap_servers is not None:
            return cls(name, cfg, None)
        if producer is None:
            raise TypeError(f"channel {name!r}: a kafka channel without bootstrap_servers "
                            "needs producer=")
        return cls(name, cfg, producer)

    async def _connected(self) -> Producer:
        if self._producer is not None:
            return self._producer
        async with self._starting:
            if self._own is None:  # first use: connect to the channel's own cluster
                assert self.cfg.bootstrap_servers is not None
                await check_access(self.cfg, self.cfg.bootstrap_servers,
                                   where=f"channels.{self.name}")
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.cfg.bootstrap_servers,
                    client_id=f"dq-monitor-{self.name}",
                    acks="all",
                    enable_idempotence=False,
                    request_timeout_ms=max(1000, int(self.cfg.timeout * 1000)),
                    **security_kwargs(self.cfg),
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._own = producer
            own: Producer = self._own
            return own

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        where = f"{self.cfg.topic!r}" + (f" at {self.cfg.bootstrap_servers}"
                                         if self.cfg.bootstrap_servers else "")
        try:
            with anyio.fail_after(self.cfg.timeout):
                producer = await self._connected()
                await producer.send_and_wait(
                    self.cfg.topic,
                    value=orjson.dumps(alert_payload(alert, repeat)),
                    key=alert.fingerprint.encode(),
                )
        except KafkaAccessError as exc:
            raise DeliveryError(self.name, str(exc), retryable=False) from None
        except TimeoutError:
            raise DeliveryError(self.name, f"produce to {where} timed out after "
                                f"{self.cfg.timeout:g}s", retryable=True) from None
        except OSError as exc:
            raise DeliveryError(self.name, f"cannot reach {where} ({type(exc).__name__})",
                                retryable=True) from None
        except KafkaError as exc:
            retryable = bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
            raise DeliveryError(self.name, f"produce to {where} failed "
                                f"({type(exc).__name__})", retryable=retryable) from None

    async def aclose(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            await own.stop()

    def __repr__(self) -> str:
        return f"KafkaChannel({self.name!r}, topic={self.cfg.topic!r})"
