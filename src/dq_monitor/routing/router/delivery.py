"""Delivering a job: a channel's workers, holds, retries, latency, dead letters of what
failed, and the end of a job once its delivery-log records are durable (FR-007…FR-010)."""

from __future__ import annotations

import anyio
from aiokafka import TopicPartition
from anyio.streams.memory import MemoryObjectReceiveStream
from opentelemetry.trace import Span, Status, StatusCode

from dq_monitor.channels.base import Channel
from dq_monitor.routing import dispatch
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.dispatch import Step
from dq_monitor.routing.hold import HoldReason
from dq_monitor.routing.retry import Throttle, deliver_with_retry
from dq_monitor.routing.router.base import RouterBase
from dq_monitor.routing.router.job import Job, wake_idle


class DeliveryMixin(RouterBase):
    """A channel's workers and the delivery of each job."""

    def _finish(self, job: Job, *, ended: bool = True) -> None:
        """A queued job left its channel: no longer in flight. If it ``ended`` (delivered,
        skipped, held, dead-lettered) its record's offset may be committed once its
        delivery-log records are durable and the record's other jobs ended too; one cut off
        (shutdown) keeps the offset open, so the next start delivers it."""
        state = self.logs.get(job.partition)
        if state is not None:
            state.done(job.alert, job.channel)
        backlog = self._backlog.get(job.channel)  # gone with a channel a reload removed
        if backlog is not None:
            backlog.end(job.token)
        if not ended:
            return
        if job.writes and self._settle_send is not None:
            self._settle_send.send_nowait(job)
        else:
            self._ended(job)

    async def _settler(self, jobs: MemoryObjectReceiveStream[Job]) -> None:
        """End jobs once their delivery-log records are acknowledged (in the order they
        ended): the next delivery never waits for the broker, the commit does."""
        async with jobs:
            async for job in jobs:
                for write in job.writes:
                    await self._confirm(write)
                job.writes.clear()
                self._ended(job)

    def _ended(self, job: Job) -> None:
        if job.offset is None:
            return
        pending = self._pending.get(TopicPartition(self.kafka.alert_topic, job.partition))
        if pending is not None:
            pending.ended(job.offset)

    async def _worker(self, name: str) -> None:
        """One of ``max_in_flight`` workers of a channel: takes the next job whose fingerprint
        has nothing under way, until the queue is closed and empty."""
        # A reload may rebuild the channel (FR-025): these workers keep serving the queue they
        # started with until it is closed and empty, then close a channel no longer in use.
        channel, lanes, idle = self.channels[name], self._lanes[name], self._idle[name]
        while True:
            job = lanes.take()
            if job is None:
                if lanes.finished:
                    wake_idle(idle, everyone=True)  # the channel's other workers end too
                    if self.channels.get(name) is not channel and id(lanes) not in self._retired:
                        self._retired.add(id(lanes))
                        with anyio.CancelScope(shield=True):
                            await channel.aclose()
                    return
                wake = anyio.Event()
                idle.append(wake)
                await wake.wait()
                continue
            self._made_room(name)
            if len(lanes):
                wake_idle(idle)  # another worker may take the next one meanwhile
            ended = False
            try:
                await self._work(channel, job)
                ended = True
            finally:
                lanes.done(job)
                # a delivery cut off by shutdown did not end: its offset stays uncommitted
                self._finish(job, ended=ended)
                wake_idle(idle)  # its fingerprint's next job may go now

    async def _work(self, channel: Channel, job: Job) -> None:
        state = self.logs.get(job.partition)
        if state is None:  # the partition moved to another router
            self.stats[f"{job.channel}.revoked"] += 1
            return
        if await self._hold(state, job):
            return
        if job.group is not None:  # FR-027: its group's notifier sends it
            await self._forward(job)
            await self._settle(job)
            return
        step = dispatch.next_step(state, job.alert, job.channel,
                                  reminder=job.repeat, now=self.clock())
        if step is Step.SKIP:
            self._count(job.channel, "deduplicated")
        else:
            job.repeat = step is Step.REMIND
            await self._deliver(channel, job, state)
        await self._settle(job)

    async def _hold(self, state: DeliveryLog, job: Job) -> bool:
        """FR-018: hold ``job`` if something holds it now, or its fingerprint is already held on
        its channel (decided at release). The hold goes to the delivery log before the job
        ends, so its offset may be committed (NFR-008)."""
        now = self.clock()
        reason = self._holding(job.alert, job.mutes, now)
        if reason is None and not state.held.holds(job.alert, job.channel):
            return False
        job.writes += await self._persist(job.partition, state.held.hold(
            job.alert, job.channel, now, reason, mutes=job.mutes, repeat=job.repeat,
            triggered_at=job.triggered_at))
        if reason is None:
            held = state.held.get(job.alert.fingerprint, job.channel)
            reason = None if held is None else held.reason
        self._count(job.channel, "inhibited" if reason is HoldReason.INHIBIT else "silenced")
        return True

    async def _settle(self, job: Job) -> None:
        """A job released from a hold ended: take its hold off the delivery log."""
        state = self.logs.get(job.partition)
        if job.released and state is not None:
            job.writes += await self._persist(job.partition,
                                        state.held.settled(job.alert.fingerprint, job.channel))

    async def _deliver(self, channel: Channel, job: Job, state: DeliveryLog) -> None:
        span = self.telemetry.tracer.start_span(
            f"deliver {job.channel}", context=job.trace,
            attributes={"dq.channel": job.channel, "dq.repeat": job.repeat})
        try:
            await self._deliver_traced(channel, job, state, span)
        finally:
            span.end()

    async def _deliver_traced(self, channel: Channel, job: Job, state: DeliveryLog,
                              span: Span) -> None:
        blast = self._blast(job.alert)
        sent = job.alert if blast is None else job.alert.model_copy(
            update={"detail": f"{job.alert.detail} ({blast})"})
        outcome = await deliver_with_retry(
            channel, sent, job.repeat, self.policy,
            throttle=self._throttles.setdefault(job.channel, Throttle()))
        span.set_attribute("dq.attempts", outcome.attempts)
        if outcome.rate_limited:
            self._count(job.channel, "rate_limited", outcome.rate_limited)
        if not outcome.ok:
            span.set_status(Status(StatusCode.ERROR, outcome.reason or "undeliverable"))
        if outcome.attempts > outcome.rate_limited + 1:
            self._count(job.channel, "retried", outcome.attempts - outcome.rate_limited - 1)
        if not outcome.ok:
            self._count(job.channel, "failed")
            await self._undeliverable(job, outcome.reason or "delivery failed", outcome.attempts)
            return
        if outcome.undelivered is not None:  # FR-011: delivered, but not to everyone
            self._count(job.channel, "partial")
            await self._undeliverable(job, outcome.undelivered.reason, outcome.attempts,
                                      recipients=outcome.undelivered.recipients)
        else:
            self._count(job.channel, "ok")
        now = self.clock()
        self._latency(job, "delivered", now)
        job.writes += await self._persist(job.partition, state.record(
            job.alert, job.channel, now, repeat=job.repeat, horizon=self._horizon()))

    def _latency(self, job: Job, outcome: str, now: float) -> None:
        """NFR-002 ``dq_alert_latency``: trigger to the end of the delivery, delivered or
        given up (so an alert that is late shows even when it never arrives)."""
        if job.triggered_at is not None:
            self.telemetry.alert_latency.record(
                max(0.0, now - job.triggered_at),
                {"channel": job.channel, "check": job.alert.check,
                 "severity": job.alert.severity, "outcome": outcome})

    async def _undeliverable(self, job: Job, reason: str, attempts: int, *,
                             recipients: tuple[str, ...] | None = None) -> None:
        """Dead-letter a delivery that failed, or (``recipients``) the part of it that did.

        A ``resolved`` that could not be delivered still ends its episode on the channel, as a
        delivered one would: no reminders for an alert that is over, and the next firing of the
        same check is news (not a duplicate of the old episode).
        """
        state = self.logs.get(job.partition)
        if recipients is None:
            self._latency(job, "dead_lettered", self.clock())
        if state is not None and recipients is None:
            if job.repeat:
                state.reminder_failed(job.alert, job.channel)
            if job.alert.status == "resolved":
                job.writes += await self._persist(job.partition, state.record(
                    job.alert, job.channel, self.clock(), horizon=self._horizon()))
        await self._dead_letter(dispatch.undeliverable_alert(
            job.alert, job.channel, reason, attempts, recipients=recipients))
