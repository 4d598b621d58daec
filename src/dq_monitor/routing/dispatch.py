"""The router's decisions as plain code (FR-007, FR-009, FR-010, FR-021): no I/O, ``now`` passed in.

* ``targets``: the channels an alert goes to, and (FR-027) how each channel that groups it
  groups it. A firing alert goes where the route rules say; a
  resolved one where its episode's firing alert went (as far as the routes' ``status`` admits,
  see ``routing.match``), or, when this partition's delivery state
  holds no record of the episode at all (its firing was delivered before a failover, or before
  the state expired), where the route rules say, so a recovery is never silently dropped.
* ``next_step``: at a channel's turn, send, send as a reminder, or skip (a duplicate, or a
  reminder the episode no longer needs).
* ``Pending``: which input offsets may be committed (every channel job of a record ended:
  delivered, skipped, dead-lettered, or held — a hold is a delivery-log record, so nothing held
  keeps an offset open; NFR-008), and where a channel that fell behind reads on by itself.
* ``held``: whether mute windows hold a delivery now.
* ``reminder_interval``: how often reminders are looked for.
* the dead-letter records the router writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from dq_monitor.config import Route, RoutingConfig
from dq_monitor.events import Alert, format_rfc3339
from dq_monitor.routing.dedup import Decision, DeliveryLog
from dq_monitor.routing.group import GroupSpec
from dq_monitor.routing.hold import Mutes as Mutes
from dq_monitor.routing.match import channels_of, matching, mute_sets, resolved_channels
from dq_monitor.routing.mute import MuteWindow


@dataclass(frozen=True, slots=True)
class Targets:
    channels: list[str]
    #: A resolved alert whose episode this partition's delivery state has no record of.
    unseen_episode: bool = False
    #: FR-018: per channel, the mute-window lists that may hold it (see ``held``).
    mutes: dict[str, Mutes] = field(default_factory=dict)
    #: FR-027: per channel that groups this alert, how (its group's notifier decides).
    groups: dict[str, GroupSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Grouping:
    """FR-027: the ``routing`` defaults of grouping, and the channels that render a group
    (the others — Kafka, Alertmanager — get every alert)."""

    config: RoutingConfig
    groupable: frozenset[str] = frozenset()


def targets(routes: Sequence[Route], log: DeliveryLog, alert: Alert,
            grouping: Grouping | None = None) -> Targets:
    matched = matching(routes, alert)
    mutes = mute_sets(matched)
    groups = {} if grouping is None else group_specs(grouping, matched)
    if alert.status == "firing":
        return Targets(channels_of(matched), mutes=mutes, groups=groups)
    if log.knows(alert.fingerprint):
        chosen = resolved_channels(matched, log.firing_channels(alert.fingerprint))
        # a grouped channel's group knows whether it told anyone of the alert
        chosen += [c for c in groups if c not in chosen]
        return Targets(chosen, mutes=mutes, groups=groups)
    return Targets(channels_of(matched), unseen_episode=True, mutes=mutes, groups=groups)


def group_specs(grouping: Grouping, matched: Sequence[Route]) -> dict[str, GroupSpec]:
    """FR-027: how each channel of the ``matched`` routes groups the alert (the first route
    naming a channel decides; a route's own ``group_by``/timing override ``routing``'s)."""
    cfg = grouping.config
    out: dict[str, GroupSpec] = {}
    for route in matched:
        index = next(i for i, r in enumerate(cfg.routes) if r is route)
        by = cfg.group_by if route.group_by is None else route.group_by
        if not by:
            continue
        wait = cfg.group_wait if route.group_wait is None else route.group_wait
        interval = cfg.group_interval if route.group_interval is None else route.group_interval
        for channel in route.channels:
            if channel in grouping.groupable and channel not in out:
                out[channel] = GroupSpec(index, channel, tuple(by), wait, interval)
    return out


def held(mutes: Mutes, windows: Mapping[str, MuteWindow], now: datetime) -> bool:
    """A delivery is held while every route that chose its channel has an active window (a
    window no longer configured, named by a hold restored from the delivery log, is not)."""
    return bool(mutes) and all(any(w in windows and windows[w].active(now) for w in names)
                               for names in mutes)


class Step(Enum):
    SEND = "send"
    REMIND = "remind"
    SKIP = "skip"


def next_step(log: DeliveryLog, alert: Alert, channel: str, *, reminder: bool,
              now: float) -> Step:
    """Decide at the channel's turn (in its own order, so a copy queued behind its original
    sees the original recorded). A queued reminder that is no longer due (the episode resolved,
    escalated or was just delivered) is skipped and re-armed."""
    decision = log.decide(alert, channel, now)
    if decision is Decision.SKIP_DUPLICATE or (reminder and decision is not
                                               Decision.SEND_REMINDER):
        if reminder:
            log.reminder_failed(alert, channel)
        return Step.SKIP
    return Step.REMIND if reminder or decision is Decision.SEND_REMINDER else Step.SEND


def reminder_interval(dedup_window: float) -> float:
    """Look for due reminders ten times per window, between every 0.5 s and every 30 s."""
    return min(30.0, max(0.5, dedup_window / 10))


@dataclass(slots=True)
class Pending:
    """What of one alert partition may be committed (FR-010, NFR-008).

    ``open`` counts the channel jobs of each record read that have not ended; a held job has
    ended (its hold is on the delivery log). A channel whose queue was full when a record came
    is *behind*: it has its own position (``behind``), the next offset it must read itself from
    the alert topic, while the others go on. The commit point is the lowest of the oldest open
    record, every behind channel's position, and the next record to read, so nothing a channel
    has not taken yet is ever committed past, and a restart re-reads it.
    """

    open: dict[int, int] = field(default_factory=dict)  # offset → channel jobs left
    high: int = -1  # highest offset read
    #: channel → the next offset it reads itself (only channels that fell behind)
    behind: dict[str, int] = field(default_factory=dict)

    def read(self, offset: int, jobs: int) -> None:
        """The record at ``offset`` was read and ``jobs`` channel jobs of it queued."""
        self.high = max(self.high, offset)
        self._add(offset, jobs)

    def _add(self, offset: int, jobs: int) -> None:
        if jobs:
            self.open[offset] = self.open.get(offset, 0) + jobs

    def ended(self, offset: int) -> None:
        """One channel job of the record at ``offset`` ended (delivered, skipped, dead-lettered)."""
        left = self.open.get(offset, 0) - 1
        if left > 0:
            self.open[offset] = left
        else:
            self.open.pop(offset, None)

    def fall_behind(self, channel: str, offset: int) -> None:
        """``channel`` could not take the record at ``offset``: it reads on from there itself
        (a channel already behind keeps its older position)."""
        self.behind.setdefault(channel, offset)

    def position(self, channel: str) -> int | None:
        """The next offset ``channel`` reads itself; ``None`` while it keeps up."""
        return self.behind.get(channel)

    def took(self, channel: str, offset: int, jobs: int) -> None:
        """``channel``, behind, took the record at ``offset`` (``jobs`` of its own: 0 or 1)."""
        self._add(offset, jobs)
        if channel in self.behind:
            self.behind[channel] = max(self.behind[channel], offset + 1)

    def rejoin(self, channel: str) -> bool:
        """Whether ``channel`` caught up (its position passed every record read): it then
        takes the next records with the others again, and is no longer behind here."""
        at = self.behind.get(channel)
        if at is None:
            return True
        if at > self.high:
            del self.behind[channel]
            return True
        return False

    def forget(self, channel: str) -> None:
        """``channel`` is no longer configured (FR-025): its position holds nothing back."""
        self.behind.pop(channel, None)

    def unread(self, channel: str) -> int:
        """Records read here that ``channel``, behind, has not taken yet."""
        at = self.behind.get(channel)
        return 0 if at is None else max(0, self.high + 1 - at)

    def commit_point(self) -> int:
        return min([*self.open, *self.behind.values(), self.high + 1])


def _at(now: datetime | None) -> str:
    return format_rfc3339(now or datetime.now(UTC))


def malformed_alert(reason: str, topic: str, partition: int, offset: int) -> dict[str, Any]:
    return {"kind": "malformed_alert", "reason": reason, "topic": topic,
            "partition": partition, "offset": offset}


def undeliverable_alert(alert: Alert, channel: str, reason: str, attempts: int, *,
                        recipients: Sequence[str] | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """A delivery given up on, or (``recipients``) the recipients a channel could not reach."""
    record: dict[str, Any] = {
        "kind": "undeliverable_alert", "channel": channel, "reason": reason,
        "attempts": attempts, "alert": alert.wire(), "at": _at(now),
    }
    if recipients is not None:
        record["recipients"] = list(recipients)
    return record


def unreadable_delivery_state(topic: str, partition: int, reason: str) -> dict[str, Any]:
    """NFR-006: a delivery-log record that could not be read was skipped at restore."""
    return {"kind": "unreadable_state", "topic": topic, "partition": partition,
            "reason": reason, "at": _at(None)}
