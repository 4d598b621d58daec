"""Real-broker fixtures: one broker per session, fresh topics and groups per test."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from dq_monitor.config import Config, parse_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService

R = TypeVar("R", bound="Runner")

#: Consumer-group timing for tests: a join takes about half the session timeout on the
#: embedded broker, so keep it short (Apache Kafka needs >= 6s by default).
SESSION_TIMEOUT = "6s"
HEARTBEAT = "1s"


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    with broker_address() as address:
        yield address


class Kafka:
    """Produce to and read from a real broker, as an outside user of dq-monitor would."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._producer: AIOKafkaProducer | None = None

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    async def create(self, *names: str, partitions: int = 1) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        finally:
            await admin.close()

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap,
                                              enable_idempotence=False, linger_ms=0)
            await self._producer.start()
        return self._producer

    async def send(self, topic: str, value: bytes | dict[str, Any], key: str | None = None) -> None:
        body = value if isinstance(value, bytes) else orjson.dumps(value)
        p = await self.producer()
        await p.send_and_wait(topic, body, key=None if key is None else key.encode())

    async def read(
        self,
        topic: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Read ``topic`` from the start until ``until(values)`` holds; values are JSON-decoded."""
        records = await self.read_records(topic, lambda rs: until([_json(r) for r in rs]), timeout)
        return [_json(r) for r in records]

    async def read_records(
        self, topic: str, until: Callable[[list[ConsumerRecord[Any, Any]]], bool],
        timeout: float = 20.0,
    ) -> list[ConsumerRecord[Any, Any]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        got: list[ConsumerRecord[Any, Any]] = []
        try:
            with anyio.move_on_after(timeout):
                while not until(got):
                    batch = await consumer.getmany(timeout_ms=100)
                    for records in batch.values():
                        got.extend(records)
        finally:
            await consumer.stop()
        return got

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


def _json(record: ConsumerRecord[Any, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(record.value)
    return value


@pytest.fixture
async def kafka(bootstrap: str) -> AsyncIterator[Kafka]:
    k = Kafka(bootstrap, f"t{uuid.uuid4().hex[:10]}")
    yield k
    await k.close()


def config_for(
    kafka: Kafka, sources_yaml: str, extra: str = "", *,
    inputs: tuple[str, ...] = ("updates", "metrics"), group: str = "monitor",
    openlineage: tuple[str, ...] = (),
) -> Config:
    """A config on the test's own topics and group, with test-speed group timing."""
    text = f"""
kafka:
  bootstrap_servers: "{kafka.bootstrap}"
  group_id: {kafka.prefix}-{group}
  input_topics: [{", ".join(kafka.topic(t) for t in inputs)}]
  openlineage_topics: [{", ".join(kafka.topic(t) for t in openlineage)}]
  alert_topic: {kafka.topic("alerts")}
  dead_letter_topic: {kafka.topic("dead")}
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
sources:
{sources_yaml}
{extra}
"""
    return parse_config(text, env={})


class Runner(Protocol):
    ready: anyio.Event

    async def run(self, stop: anyio.Event) -> None: ...


@contextlib.asynccontextmanager
async def serving(runner: R) -> AsyncIterator[R]:
    """Run a service or router in this event loop; yield once it is ready, stop it after."""
    stop = anyio.Event()
    stopped = anyio.Event()

    async def run() -> None:
        try:
            await runner.run(stop)
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(30):
            await runner.ready.wait()
        try:
            yield runner
        finally:
            stop.set()
            tg.start_soon(_watch_stop, runner, stopped)


#: A stop that takes longer than this is a bug: the worker ends, naming the test, and every
#: task's stack is written to ``dq-stuck-<pid>.txt`` in the temporary directory.
STOP_LIMIT_S = 60.0


async def _watch_stop(runner: Runner, stopped: anyio.Event) -> None:
    """End a stop that never ends (its await is shielded) instead of hanging the suite."""
    with anyio.move_on_after(STOP_LIMIT_S):
        await stopped.wait()
        return
    out = io.StringIO()
    print(f"{type(runner).__name__} did not stop within {STOP_LIMIT_S:.0f} s", file=out)
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}: {task.get_coro()!r}", file=out)
        task.print_stack(file=out)
    path = Path(tempfile.gettempdir()) / f"dq-stuck-{os.getpid()}.txt"
    path.write_text(out.getvalue())
    os.write(2, f"{out.getvalue()}\nwritten to {path}\n".encode())
    os._exit(70)


def running(config: Config, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[
        MonitorService]:
    """A MonitorService on ``config``, ready once it owns its partitions."""
    return serving(MonitorService(config, **kwargs))


def now_rfc3339(offset_s: float = 0.0) -> str:
    t = time.time() + offset_s
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


#: One source with a rolling anomaly check on its ``revenue`` (``orders_revenue`` feeds it).
ORDERS_REVENUE = """
  - name: orders
    anomaly: {metrics: [revenue], baseline: rolling, window: 50, min_samples: 20}
"""


def orders_revenue(value: float) -> dict[str, Any]:
    """A metric event of ``orders``' ``revenue``, stamped now."""
    return {"type": "metric", "source": "orders", "metric": "revenue", "value": value,
            "ts": now_rfc3339()}
