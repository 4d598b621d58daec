"""The router's state, shared by its parts: what it owns per alert partition and per channel,
queueing a job, and writing records durably (``_persist``/``_confirm``/``_write``, NFR-008)."""

from __future__ import annotations

import logging
import time
from asyncio import Future
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dq_monitor import tracing
from dq_monitor.acks import Ack, AckBook
from dq_monitor.channels.base import Channel
from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.kafka.backoff import Backoff, pause
from dq_monitor.kafka.failures import Verdict, WriteHealth, reason, unwritable_record
from dq_monitor.kafka.headers import TRIGGERED_HEADER, header_ms
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.routing import dispatch
from dq_monitor.routing.backlog import ChannelBacklog
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.dispatch import Grouping, Pending
from dq_monitor.routing.group import Groups, GroupSpec
from dq_monitor.routing.hold import HoldReason
from dq_monitor.routing.inhibit import Inhibitor, LearnedLineage
from dq_monitor.routing.lanes import Lanes
from dq_monitor.routing.mute import MuteWindow
from dq_monitor.routing.retry import RetryPolicy, Throttle
from dq_monitor.routing.router.job import Job, Write, wake_idle
from dq_monitor.silence import SilenceBook
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor.router")


class RouterBase:
    """State and durable writes; the behaviour lives in the mixins of ``AlertRouter``."""

    def __init__(
        self,
        config: Config,
        *,
        telemetry: Telemetry | None = None,
        channels: dict[str, Channel] | None = None,
        clock: Callable[[], float] = time.time,
        silences: SilenceBook | None = None,
    ) -> None:
        self.config = config
        self.kafka = config.kafka
        self.telemetry = telemetry if telemetry is not None else Telemetry.disabled()
        self.clock = clock
        self.policy = RetryPolicy.from_config(config.routing.retry)
        #: Delivery state of each alert partition this router owns and has restored.
        self.logs: dict[int, DeliveryLog] = {}
        self.channels = channels if channels is not None else {}
        self.stats: Counter[str] = Counter()
        self.ready = anyio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._pending: dict[TopicPartition, Pending] = {}
        #: Partitions assigned but not restored yet: paused until their state is back.
        self._restore_pending: set[TopicPartition] = set()
        self._restore_backoff = Backoff()
        self._restore_retry_at = 0.0
        self._joined = False
        #: Per channel: its queue (``routing.lanes``), what waits on it, and its backlog.
        self._lanes: dict[str, Lanes[Job]] = {}
        #: Per channel: its idle workers' wake-ups, and room made in its queue.
        self._idle: dict[str, list[anyio.Event]] = {}
        self._room: dict[str, anyio.Event] = {}
        self._backlog: dict[str, ChannelBacklog] = {}
        #: Per channel: its receiver's rate limit, waited out by all its deliveries.
        self._throttles: dict[str, Throttle] = {}
        #: Channels whose own reader runs (they fell behind on some partition).
        self._catching_up: set[str] = set()
        self._stopping = anyio.Event()
        self._settle_send: MemoryObjectSendStream[Job] | None = None
        #: Queues of rebuilt channels whose workers closed their channel (FR-025).
        self._retired: set[int] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self.windows = {name: MuteWindow.from_config(name, w)
                        for name, w in config.routing.mute_windows.items()}
        #: FR-018: the deployment's silences; a router given none follows the topic itself.
        self._own_silences = silences is None
        self.silences = silences if silences is not None else SilenceBook(config.kafka)
        self.telemetry.ready_checks["router"] = self.ready.is_set
        #: NFR-008: topics no record can be written to now; ``/readyz`` is false meanwhile.
        self.writes = WriteHealth()
        self.telemetry.ready_checks["router.writes"] = self.writes.ready
        #: FR-027: the groups of each groups-topic partition this router owns and restored.
        self.groups: dict[int, Groups] = {}
        self._grouping = Grouping(config.routing)
        self._groups_restore: set[TopicPartition] = set()
        #: Groups-topic partition → the next offset to commit (its records' state is durable).
        self._groups_done: dict[TopicPartition, int] = {}
        self._groups_running = False
        self._stop: anyio.Event | None = None
        #: FR-027: the deployment's firing alerts (the whole alert topic, followed) and the
        #: inhibition they cause; lineage given by hand plus lineage learned (the changelog).
        self.learned = LearnedLineage()
        self._lineage_version = -1
        self.inhibitor = Inhibitor(config.routing.inhibit,
                                   downstream=config.routing.inhibit_downstream)
        self._refresh_lineage()
        self._firing_tail: TopicTail | None = None
        #: FR-027: acknowledgements (every instance follows their topic); those not yet
        #: applied to the groups this router owns wait in ``_acks_new``.
        self.acks = AckBook(config.kafka, on_ack=self._acks_new_append)
        self._acks_new: list[Ack] = []

    if TYPE_CHECKING:  # implemented by the parts ``AlertRouter`` is made of
        async def _worker(self, name: str) -> None: ...
        async def _settler(self, jobs: MemoryObjectReceiveStream[Job]) -> None: ...
        async def _forward(self, job: Job) -> None: ...
        def _holding(self, alert: Alert, mutes: dispatch.Mutes,
                     now: float) -> HoldReason | None: ...
        def _blast(self, alert: Alert) -> str | None: ...
        def _refresh_lineage(self) -> None: ...
        def _horizon(self) -> float | None: ...
        def _start_catch_up(self, name: str) -> None: ...
        def _start_groups(self) -> None: ...
        def _start_inhibition(self, tg: anyio.abc.TaskGroup, stop: anyio.Event) -> None: ...
        def _acks_new_append(self, ack: Ack) -> None: ...


    def _job(self, alert: Alert, channel: str, partition: int, rec: Any,
             mutes: dict[str, dispatch.Mutes], groups: dict[str, GroupSpec]) -> Job:
        triggered = header_ms(rec.headers, TRIGGERED_HEADER)
        return Job(alert, channel, partition, False, triggered, rec.offset,
                   tracing.extract(rec.headers), mutes.get(channel, ()),
                   detected=triggered if triggered is not None else rec.timestamp / 1000,
                   group=groups.get(channel))

    def _enqueue(self, job: Job) -> bool:
        """Queue ``job`` for its channel; ``False`` (nothing changed) when its queue is full."""
        if not job.detected:
            job.detected = self.clock()
        lanes = self._lanes.get(job.channel)
        if lanes is None or not lanes.put(job):  # full, or (FR-025) the channel was removed
            return False
        state = self.logs.get(job.partition)
        if state is not None:
            state.queue(job.alert, job.channel)
        job.token = self._backlog[job.channel].add(job.detected)
        self._wake(job.channel)
        return True

    def _wake(self, channel: str, *, everyone: bool = False) -> None:
        """Wake one idle worker of ``channel`` (a job may be takeable now), or all of them."""
        wake_idle(self._idle.get(channel, []), everyone=everyone)

    def _made_room(self, channel: str) -> None:
        """Wake the channel's own reader, waiting for room in its queue."""
        room = self._room.get(channel)
        if room is not None:
            room.set()
            self._room[channel] = anyio.Event()

    async def _persist(self, partition: int, records: list[tuple[bytes, bytes | None]]
                       ) -> list[Write]:
        """Send delivery-log records without waiting for the broker's answer; ``_confirm``
        each before anything that depends on it is committed."""
        assert self._producer is not None
        out: list[Write] = []
        topic = self.kafka.delivery_log
        for key, value in records:
            try:
                future: Future[Any] | None = await self._producer.send(
                    topic, value=value, key=key, partition=partition)
            except KafkaError:
                future = None  # refused at once: ``_confirm`` writes it the careful way
            out.append((future, topic, key, value, partition))
        return out

    async def _confirm(self, write: Write) -> None:
        """Wait until a record sent by ``_persist`` is durable; one that failed is written
        again by ``_write`` (waiting out broker trouble, skipping what is refused for good)."""
        future, topic, key, value, partition = write
        if future is not None:
            try:
                await future
                self.writes.written(topic)
                return
            except KafkaError:
                pass
        await self._write(topic, key, value, partition)

    async def _dead_letter(self, record: dict[str, Any]) -> None:
        self.stats[f"dead_letter.{record['kind']}"] += 1
        self.telemetry.dead_letters.add(1, {"kind": record["kind"]})
        await self._write(self.kafka.dead_letter_topic, None, orjson.dumps(record))

    async def _write(self, topic: str, key: bytes | None, value: bytes | None,
                     partition: int | None = None, *, relay: bool = True) -> None:
        """Write one record, waiting out broker trouble: dropping it would lose a delivery fact.

        NFR-008: a record refused for good (``kafka.failures``) is not retried: it is logged
        and counted (``dq_unwritable_records``) and skipped; a dead letter refused as too large
        is replaced by a short ``unwritable_record`` one (``relay``), once."""
        assert self._producer is not None
        backoff = Backoff()
        while True:
            try:
                await self._producer.send_and_wait(topic, value=value, key=key,
                                                   partition=partition)
                self.writes.written(topic)
                return
            except KafkaError as exc:
                verdict = self.writes.failed(topic, exc)
                if verdict.final:
                    again = (relay and verdict is Verdict.RECORD
                             and topic == self.kafka.dead_letter_topic)
                    action = "dead_lettered" if again else "skipped"
                    self.stats[f"unwritable.{action}"] += 1
                    self.telemetry.unwritable.add(1, {"topic": topic, "action": action,
                                                      "error": type(exc).__name__})
                    log.error("router: record for %s refused for good (%s); %s", topic,
                              reason(exc), "dead-lettered in short" if again else "skipped")
                    if again:
                        await self._write(topic, None, orjson.dumps(unwritable_record(
                            topic, partition, key, value, exc,
                            max_request_size=self.kafka.max_request_size)), relay=False)
                    return
                delay = backoff.next()
                log.warning("router: cannot write to %s (%s); retrying in %.1fs", topic,
                            type(exc).__name__, delay)
                await pause(delay)

    def _count(self, channel: str, outcome: str, n: int = 1) -> None:
        self.stats[f"{channel}.{outcome}"] += n
        self.telemetry.deliveries.add(n, {"channel": channel, "outcome": outcome})

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        owned = consumer.assignment()
        offsets = {tp: p.commit_point() for tp, p in self._pending.items()
                   if p.high >= 0 and tp in owned}
        await commit_owned(consumer, {tp: o for tp, o in offsets.items() if o > 0},
                           "router commit skipped (%s); alerts will be re-read and deduplicated")


async def commit_owned(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int],
                       skipped: str) -> None:
    """Commit ``offsets`` (if any); a refused commit is logged with ``skipped`` and left to
    the next one (the records are read again: at least once)."""
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, KafkaError) as exc:
        log.info(skipped, type(exc).__name__)
