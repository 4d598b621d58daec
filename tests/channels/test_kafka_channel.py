"""Kafka forward channel with an in-memory producer; a real broker is for integration tests."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from dq_monitor.channels.kafka import KafkaChannel
from dq_monitor.config import KafkaChannel as KafkaConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert


class FakeProducer:
    def __init__(self, error: KafkaError | None = None) -> None:
        self.error = error
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((topic, key, value))


def forward(producer: FakeProducer) -> KafkaChannel:
    return KafkaChannel("forward", KafkaConfig(type="kafka", topic="dq.alerts.copy"), producer)


@pytest.mark.req("FR-008")
async def test_forwards_the_payload_keyed_by_fingerprint(alert: Alert) -> None:
    producer = FakeProducer()
    ch = forward(producer)
    await ch.send(alert, repeat=True)
    await ch.aclose()
    ((topic, key, value),) = producer.sent
    assert (topic, key) == ("dq.alerts.copy", alert.fingerprint.encode())
    assert orjson.loads(value) == {**orjson.loads(alert.to_json()), "repeat": True}


@pytest.mark.req("FR-010")
@pytest.mark.parametrize(("error", "retryable"), [
    (KafkaConnectionError(), True),
    (KafkaTimeoutError(), True),
    (RecordTooLargeError(), False),
    (TopicAuthorizationFailedError(), False),
])
async def test_client_errors_map_to_retryable_or_final(alert: Alert, error: KafkaError,
                                                       retryable: bool) -> None:
    with pytest.raises(DeliveryError) as info:
        await forward(FakeProducer(error)).send(alert, repeat=False)
    assert info.value.retryable is retryable
    assert info.value.channel == "forward" and type(error).__name__ in info.value.reason


class HangingProducer:
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        import anyio

        await anyio.sleep(3600)


@pytest.mark.req("FR-010", "FR-011")
async def test_a_send_is_bounded_by_the_channel_timeout(alert: Alert) -> None:
    cfg = KafkaConfig.model_validate({"type": "kafka", "topic": "t", "timeout": "50ms"})
    with pytest.raises(DeliveryError) as info:
        await KafkaChannel("forward", cfg, HangingProducer()).send(alert, repeat=False)
    assert info.value.retryable and "timed out after 0.05s" in info.value.reason


@pytest.mark.req("FR-020")
async def test_with_its_own_cluster_an_unreachable_one_is_retryable(alert: Alert) -> None:
    from dq_monitor.embedded import free_port

    cfg = KafkaConfig.model_validate({"type": "kafka", "topic": "t", "timeout": "2s",
                                      "bootstrap_servers": f"127.0.0.1:{free_port()}"})
    ch = KafkaChannel.from_config("other", cfg)
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert info.value.retryable and "127.0.0.1" in info.value.reason
