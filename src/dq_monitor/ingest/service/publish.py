"""Writing alerts, dead letters and state records at least once (NFR-004, NFR-008)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from opentelemetry import trace

from dq_monitor import tracing
from dq_monitor.checkpoint_size import RECORD_OVERHEAD
from dq_monitor.ingest.service.base import (
    Record,
    ServiceBase,
    _InFlight,
    _kind_of,
    listed,
    log,
)
from dq_monitor.kafka.backoff import Backoff, pause
from dq_monitor.kafka.failures import (
    Verdict,
    classify,
    reason,
    unwritable_record,
)
from dq_monitor.kafka.headers import TRIGGERED_HEADER
from dq_monitor.monitor import Emitted, Outcome


class PublishMixin(ServiceBase):
    """Writing alerts, dead letters and state: batched sends, acknowledgements, retries through
    outages, records refused for good (NFR-004, NFR-008)."""

    async def _publish(self, out: Outcome, dead: list[dict[str, Any]]) -> None:
        """Send alerts and dead letters now, without waiting for their acknowledgement: the
        loop goes on judging while they are acknowledged (NFR-002), and ``_checkpoint`` waits
        for every one of them before it writes state or commits offsets.

        The order matters without transactions: a checkpoint saying "alert X is firing" must
        never be durable while alert X is not, or a restart would restore the state, re-read the
        input, see nothing new and never send X. The reverse (alert durable, checkpoint lost)
        only re-sends X with the same fingerprint.
        """
        forward, self._forward = self._forward, []
        if forward:  # durable before the input offsets are committed, like alerts (NFR-004)
            records = [r for r, _ in forward]
            await self._refused(records, await self._write_all(records,
                                                               [ts for _, ts in forward]))
        spans = []
        outputs: list[Record] = []
        for e in out.alerts:
            headers = [(TRIGGERED_HEADER, str(int(e.triggered_at.timestamp() * 1000)).encode())]
            if self.telemetry.tracing:
                span = tracing.start_alert_span(self.telemetry.tracer, e.alert, e.trace,
                                                e.triggered_at)
                spans.append(span)
                headers.append(tracing.header_of(span))
            outputs.append((self.kafka.alert_topic, e.alert.fingerprint.encode(),
                            e.alert.to_json(), None, headers))
        if self._state_dead:
            dead, self._state_dead = [*self._state_dead, *dead], []
        outputs += [
            (self.kafka.dead_letter_topic, None, orjson.dumps(d), None, [])
            for d in [*dead, *out.dead_letters]
        ]
        if not outputs:
            return
        if spans:
            spans = [*(self.telemetry.tracer.start_span(
                "produce alert", context=trace.set_span_in_context(s)) for s in spans), *spans]
        sent = _InFlight(outputs, out.alerts, [*dead, *out.dead_letters], spans)
        self._in_flight.append(sent)
        try:
            futures = [await self._producer_send(r) for r in outputs]
        except KafkaError:
            await self._settle()  # this one and all before it, in order, retried until acked
            return
        sent.acks = asyncio.gather(*futures, return_exceptions=True)
        sent.acks.add_done_callback(lambda _: self._acked(sent))

    async def _producer_send(self, record: Record) -> asyncio.Future[Any]:
        topic, key, value, partition, headers = record
        assert self._producer is not None
        fut: asyncio.Future[Any] = await self._producer.send(
            topic, value=value, key=key, partition=partition, headers=listed(headers))
        return fut

    async def _send_batched(self, records: list[Record]) -> list[asyncio.Future[Any]]:
        """Send records that name their partition as one batch per partition (a per-record
        ``send`` costs tens of microseconds of Python each; a checkpoint has hundreds), in
        order; a record too large for a batch of its own goes alone. One that may be over
        ``kafka.max_request_size`` goes through ``send``, which checks it (a batch is not
        checked): NFR-008, it is refused, not written past the limit."""
        producer = self._producer
        assert producer is not None
        futures: list[asyncio.Future[Any]] = []
        by_partition: dict[tuple[str, int], list[Record]] = {}
        limit = self.kafka.max_request_size - RECORD_OVERHEAD
        for record in records:
            if record[3] is None or len(record[1] or b"") + len(record[2] or b"") > limit:
                futures.append(await self._producer_send(record))
            else:
                by_partition.setdefault((record[0], record[3]), []).append(record)
        for (topic, partition), group in by_partition.items():
            batch, n = producer.create_batch(), 0
            for record in group:
                _, key, value, _, headers = record
                if batch.append(key=key, value=value, timestamp=None, headers=listed(headers)):
                    n += 1
                    continue
                if n:  # full: send it and start the next one with this record
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch, n = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=None,
                                    headers=listed(headers)):
                        n = 1
                        continue
                    batch = producer.create_batch()
                futures.append(await self._producer_send(record))
            if n:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures

    def _acked(self, sent: _InFlight) -> None:
        """Done callback of a send: finish it at once when every record was acknowledged (a
        failure is left to ``_settle``, which re-sends in order)."""
        acks = sent.acks
        if acks is None or acks.cancelled():
            return
        if not any(isinstance(r, BaseException) for r in acks.result()):
            self._finish(sent, self.clock())

    def _finish(self, sent: _InFlight, acked: datetime, refused: set[int] | None = None) -> None:
        """Account for records that are durable: spans, counters, latency, ``on_published``.
        ``refused``: indexes of records refused for good, which are not (see ``_refused``)."""
        if sent.finished:
            return
        sent.finished = True
        for span in sent.spans:
            span.end()
        alerts, dead = sent.alerts, sent.dead
        if refused:
            n = len(alerts)
            alerts = [e for i, e in enumerate(alerts) if i not in refused]
            dead = [d for i, d in enumerate(dead, n) if i not in refused]
        self._written(sent.records)
        self.stats["alerts.published"] += len(alerts)
        self.stats["dead_lettered"] += len(dead)
        self._record(alerts, dead, acked)
        if self.on_published is not None:
            for e in alerts:
                self.on_published(e, acked)

    def _written(self, records: list[Record]) -> None:
        """NFR-008: a topic refused earlier takes records again (``/readyz`` may turn true)."""
        if self.writes.refused:
            for topic in {r[0] for r in records}:
                self.writes.written(topic)

    async def _settle(self) -> None:
        """Wait until every record sent by ``_publish`` is acknowledged. From the first send
        that failed on, everything is sent again in order and retried through outages (a
        duplicate alert, same fingerprint, is allowed; a loss is not)."""
        in_flight, self._in_flight = self._in_flight, []
        for i, sent in enumerate(in_flight):
            if sent.acks is not None:
                results = await asyncio.shield(sent.acks)
                if not any(isinstance(r, BaseException) for r in results):
                    self._finish(sent, self.clock())
                    continue
            for again in in_flight[i:]:
                if not again.finished:
                    refused = await self._write_all(again.records)
                    self._finish(again, self.clock(), {j for j, _ in refused})
                    await self._refused(again.records, refused)
            return

    async def _write_all(
        self, records: list[Record], timestamps: list[int | None] | None = None
    ) -> list[tuple[int, BaseException]]:
        """Send all records and wait for every acknowledgement, retrying through outages.

        NFR-008: a record refused for good (``kafka.failures``) is not sent again; it is
        returned as (index, error) for the caller to dead-letter or skip. Every retry resends
        all the others in order: a duplicate alert (same fingerprint) is allowed, a loss or a
        firing after its resolve is not."""
        stamps = timestamps or [None] * len(records)
        producer = self._producer
        assert producer is not None
        backoff = Backoff()
        refused: dict[int, BaseException] = {}
        while True:
            failure: BaseException | None = None
            sent: list[tuple[int, asyncio.Future[Any]]] = []
            for i, ((topic, key, value, partition, headers), ts) in enumerate(
                    zip(records, stamps, strict=True)):
                if i in refused:
                    continue
                try:
                    sent.append((i, await producer.send(
                        topic, value=value, key=key, partition=partition,
                        headers=listed(headers), timestamp_ms=ts)))
                except KafkaError as exc:
                    if self.writes.failed(topic, exc).final:
                        refused[i] = exc
                        continue
                    failure = exc
                    break
            results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
            for (i, _), result in zip(sent, results, strict=True):
                if not isinstance(result, BaseException):
                    self.writes.written(records[i][0])
                elif self.writes.failed(records[i][0], result).final:
                    refused[i] = result
                elif failure is None:
                    failure = result
            if failure is None:
                return sorted(refused.items(), key=lambda item: item[0])
            delay = backoff.next()
            log.warning("could not write %d record(s) (%s); retrying in %.1fs",
                        len(records) - len(refused), type(failure).__name__, delay)
            await pause(delay)

    async def _refused(self, records: list[Record],
                       refused: list[tuple[int, BaseException]]) -> None:
        """NFR-008: records the cluster or the producer refused for good, never retried.

        An alert or a rerouted event is dead-lettered as ``unwritable_record`` with the reason
        (its key and value cut short); so is a dead letter refused as a record (too large). A
        state record is skipped: the next checkpoint of that state writes it afresh. Each is
        logged and counted (``dq_unwritable_records``); a dead letter about them that cannot be
        written either is logged, counted and dropped, never a stall."""
        if not refused:
            return
        dead: list[dict[str, Any]] = []
        for i, exc in refused:
            topic, key, value, partition, _ = records[i]
            about_dead = topic == self.kafka.dead_letter_topic
            kind = _kind_of(value) if about_dead else None
            relay = (topic in (self.kafka.alert_topic, self.repartition_topic)
                     or (about_dead and kind != "unwritable_record"
                         and classify(exc) is Verdict.RECORD))
            action = "dead_lettered" if relay else "skipped"
            self.stats[f"unwritable.{action}"] += 1
            self.telemetry.unwritable.add(1, {"topic": topic, "error": type(exc).__name__,
                                              "action": action})
            log.error("record for %s[%s] refused for good (%s); %s", topic,
                      "any" if partition is None else partition, reason(exc),
                      "dead-lettered" if relay else "dropped" if about_dead
                      else "skipped (the next checkpoint writes this state afresh)")
            if relay:
                dead.append(unwritable_record(topic, partition, key, value, exc,
                                              max_request_size=self.kafka.max_request_size))
        if not dead:
            return
        letters: list[Record] = [(self.kafka.dead_letter_topic, None, orjson.dumps(d), None, [])
                                 for d in dead]
        lost = await self._write_all(letters)
        for i, exc in lost:
            self.stats["unwritable.dropped"] += 1
            self.telemetry.unwritable.add(1, {"topic": self.kafka.dead_letter_topic,
                                              "error": type(exc).__name__, "action": "dropped"})
            log.error("dead letter of a refused record for %s not written either (%s); dropped",
                      dead[i]["topic"], reason(exc))
        lost_at = {i for i, _ in lost}
        written = [d for i, d in enumerate(dead) if i not in lost_at]
        self.stats["dead_lettered"] += len(written)
        for d in written:
            self.telemetry.dead_letters.add(1, {"kind": d["kind"]})

    def _record(self, alerts: list[Emitted], dead: list[dict[str, Any]],
                acked: datetime) -> None:
        tel = self.telemetry
        for e in alerts:
            a = e.alert
            tel.alerts.add(1, {"check": a.check, "severity": a.severity, "status": a.status})
            if a.status == "firing":
                tel.detection_latency.record(
                    max(0.0, (acked - e.triggered_at).total_seconds()),
                    {"check": a.check, "severity": a.severity})
        for d in dead:
            tel.dead_letters.add(1, {"kind": d["kind"]})
