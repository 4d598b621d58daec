"""FR-018, FR-027: what holds a delivery (inhibition, mute windows, silences), releasing it,
and reminders of alerts still firing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
from pydantic import ValidationError

from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.kafka.backoff import pause
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.routing import dispatch
from dq_monitor.routing.hold import HoldReason
from dq_monitor.routing.inhibit import Lineage, blast_radius
from dq_monitor.routing.match import matching
from dq_monitor.routing.router.base import RouterBase
from dq_monitor.routing.router.job import Job

#: How often held deliveries are looked at again (a silence expired, a window ended).
RELEASE_CHECK_S = 1.0


def _upstream(config: Config) -> dict[str, list[str]]:
    """Lineage given by hand: each named source's ``upstream``."""
    return {s.name: s.upstream for s in config.sources if s.name is not None and s.upstream}


class HoldsMixin(RouterBase):
    """FR-018, FR-027: holds, their release, inhibition and reminders."""

    async def _reminders(self, stop: anyio.Event) -> None:
        """Re-send alerts still firing ``dedup_window`` after their last delivery, for the
        partitions this router owns (and only those)."""
        interval = dispatch.reminder_interval(self.config.routing.dedup_window)
        while not stop.is_set():
            await pause(interval, stop)
            if stop.is_set():
                return
            now = self.clock()
            for partition, state in list(self.logs.items()):
                for alert, channel in state.due_reminders(now):
                    if self.acks.covering(alert) is not None:
                        state.reminder_failed(alert, channel)  # FR-027: acknowledged
                        continue
                    if channel in self._lanes and not self._enqueue(
                            Job(alert, channel, partition, True, None)):
                        state.reminder_failed(alert, channel)  # queue full: next round

    def _holding(self, alert: Alert, mutes: dispatch.Mutes, now: float) -> HoldReason | None:
        """FR-018: what holds a delivery at ``now``: a mute window of every route that chose its
        channel, or a silence; ``None`` when nothing does."""
        if self._firing_tail is not None:
            self._refresh_lineage()
            if self.inhibitor.inhibited_by(alert) is not None:
                return HoldReason.INHIBIT
        if not (mutes or len(self.silences.set)):
            return None
        at = datetime.fromtimestamp(now, UTC)
        if mutes and dispatch.held(mutes, self.windows, at):
            return HoldReason.MUTE
        if self.silences.silencing(alert, at):
            return HoldReason.SILENCE
        return None

    async def _releases(self, stop: anyio.Event) -> None:
        """Release held deliveries soon after their window ends or their silence expires."""
        while not stop.is_set():
            await pause(RELEASE_CHECK_S, stop)
            if not stop.is_set():
                await self._release_held(self.clock())

    async def _release_held(self, now: float) -> None:
        """FR-018: decide the held deliveries nothing holds any more (see ``routing.hold``);
        a dropped hold is tombstoned now, a sent one once its delivery ended."""
        for partition, state in list(self.logs.items()):
            if not len(state.held):
                continue
            out = state.held.release(lambda h: self._holding(h.alert, h.mutes, now) is not None)
            for write in await self._persist(partition, out.records):
                await self._confirm(write)
            for h in out.send:  # decided: deliver now, whatever the windows say next
                if h.channel not in self.config.channels:  # FR-025: a reload removed it
                    for write in await self._persist(partition, state.held.settled(
                            h.alert.fingerprint, h.channel)):
                        await self._confirm(write)
                    continue
                group = dispatch.group_specs(self._grouping, matching(
                    self.config.routing.routes, h.alert)).get(h.channel)
                if h.channel not in self._lanes or not self._enqueue(Job(
                        h.alert, h.channel, partition, h.repeat, h.triggered_at,
                        released=True, group=group)):
                    state.held.unrelease(h)  # its queue is full: released again later

    def _start_inhibition(self, tg: anyio.abc.TaskGroup, stop: anyio.Event) -> None:
        """Follow the whole alert topic (the firing alerts of every partition, whichever
        router owns it) and, for learned lineage, the monitor's changelog."""
        self._firing_tail = TopicTail(self.kafka, self.kafka.alert_topic, self._observe_firing)
        tg.start_soon(self._firing_tail.run, stop)
        if self.kafka.openlineage_topics:
            tail = TopicTail(self.kafka, self.kafka.changelog,
                             lambda record: self.learned.apply(record.key, record.value))
            tg.start_soon(tail.run, stop)

    def _observe_firing(self, record: Any) -> None:
        try:
            self.inhibitor.observe(Alert.from_json(record.value or b""))
        except (ValidationError, ValueError, TypeError):
            return  # the router that owns its partition dead-letters it

    def _refresh_lineage(self) -> None:
        if self._lineage_version != self.learned.version:
            self._lineage_version = self.learned.version
            self.inhibitor.set_lineage(Lineage.merged(_upstream(self.config),
                                                      self.learned.graph()))

    def _blast(self, alert: Alert) -> str | None:
        """The sources downstream of a firing freshness or run alert's source (its blast
        radius), for its notifications."""
        if (not self.config.routing.inhibit_downstream or alert.status != "firing"
                or alert.check not in ("freshness", "run")):
            return None
        self._refresh_lineage()
        return blast_radius(self.inhibitor.lineage, alert.source)
