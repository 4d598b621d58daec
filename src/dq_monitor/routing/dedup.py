"""FR-009 per-channel delivery log: the dedup decision logic, with no I/O and no clock.

The log maps (fingerprint, severity, status, channel) to the time of the last successful
delivery. The router asks ``decide`` just before sending, in each channel's own order, and
calls ``record`` after the channel accepted; ``record`` returns the records that make the change
durable on a compacted topic, which ``load`` reads back at start, so dedup survives restarts and
moves with the router. ``now`` is wall-clock epoch seconds for the same reason. The same log
carries the partition's held deliveries (``held``, see ``routing.hold``): nothing held waits in
an uncommitted offset (NFR-008), and a held firing alert counts for where its recovery goes.

Rules:

* firing, same key delivered less than ``dedup_window`` ago: a duplicate (skip);
* firing, delivered longer ago and still firing: a reminder (``repeat: true``); ``due_reminders``
  lists the ones to send when no new event comes;
* another severity has another key, so an escalation is never a duplicate; it supersedes the
  lower severity, which gets no more reminders;
* resolved: delivered once per (fingerprint, severity, channel). A delivered ``resolved`` closes
  the episode on that channel: its firing entries are dropped (no more reminders, and
  ``firing_channels`` no longer names the channel). Replayed copies of the closed episode's firing
  alerts (same ``alert_id``, e.g. re-read after a crash) stay duplicates; any other firing alert
  opens a new episode: a re-fire is news, and so is its recovery.

Memory: firing entries live while their alert fires (bounded by the alerts firing at once, at
most two severities per channel); resolved entries are dropped ``dedup_window`` after their
delivery (tombstones returned by ``record``/``expire``), and in-flight marks when the delivery
ends. So the log holds the firing alerts plus one window of recoveries.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson
from pydantic import ValidationError

from dq_monitor.events import Alert
from dq_monitor.routing.group import is_group_key
from dq_monitor.routing.hold import SEP as SEP
from dq_monitor.routing.hold import Holds, is_hold_key
from dq_monitor.routing.hold import Record as Record

log = logging.getLogger("dq_monitor.routing.dedup")

#: (fingerprint, severity, status, channel)
Key = tuple[str, str, str, str]


class Decision(Enum):
    SEND = "send"
    SEND_REMINDER = "reminder"
    SKIP_DUPLICATE = "duplicate"


@dataclass(slots=True)
class Entry:
    delivered_at: float
    #: Firing entries: the alert a reminder repeats; ``None`` once superseded by an escalation.
    alert: Alert | None = None
    #: Resolved entries: ``alert_id`` of the firing alerts of the episode this closed.
    closes: frozenset[str] = frozenset()
    repeat: bool = False
    #: A reminder is queued or being sent (not persisted: a restart may remind once more).
    reminder_queued: bool = field(default=False, compare=False)


def encode_key(key: Key) -> bytes:
    return SEP.join(key).encode()


def decode_key(raw: bytes) -> Key:
    fp, severity, status, channel = raw.decode().split(SEP, 3)
    return fp, severity, status, channel


def encode_entry(key: Key, entry: Entry | None) -> Record:
    """The compacted-topic record for ``key``; ``None`` gives a tombstone."""
    if entry is None:
        return encode_key(key), None
    value: dict[str, Any] = {"delivered_at": entry.delivered_at, "repeat": entry.repeat}
    if entry.alert is not None:
        value["alert"] = entry.alert.wire()
    if entry.closes:
        value["closes"] = sorted(entry.closes)
    return encode_key(key), orjson.dumps(value)


def decode_entry(raw_key: bytes, raw_value: bytes | None) -> tuple[Key, Entry | None]:
    """Inverse of ``encode_entry``; raises ``ValueError`` for a record it cannot read."""
    try:
        key = decode_key(raw_key)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"bad delivery-log key: {exc}") from None
    if raw_value is None:
        return key, None
    try:
        value = orjson.loads(raw_value)
        alert = value.get("alert")
        return key, Entry(
            delivered_at=float(value["delivered_at"]),
            alert=None if alert is None else Alert.model_validate(alert),
            closes=frozenset(str(i) for i in value.get("closes", ())),
            repeat=bool(value.get("repeat", False)),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError,
            ValidationError) as exc:
        raise ValueError(f"bad delivery-log value for {key}: {type(exc).__name__}") from None


class DeliveryLog:
    """The delivery log of every channel; one per router (see the module docstring)."""

    def __init__(self, dedup_window: float) -> None:
        self.window = dedup_window
        self._entries: dict[Key, Entry] = {}
        self._by_fp: dict[str, set[Key]] = {}
        #: Resolved keys by delivery time (insertion order), for expiry without a scan.
        self._resolved: dict[Key, float] = {}
        #: Deliveries queued or under way, per fingerprint: a resolved alert must follow them.
        self._queued: dict[str, Counter[Key]] = {}
        #: FR-018/NFR-008: the deliveries held here (silences, mute windows), on the same log.
        self.held = Holds()

    @staticmethod
    def key(alert: Alert, channel: str) -> Key:
        return alert.fingerprint, alert.severity, alert.status, channel

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ decisions

    def decide(self, alert: Alert, channel: str, now: float) -> Decision:
        """What to do with ``alert`` on ``channel`` at ``now``, given the deliveries recorded.

        Ask at delivery time, in the channel's order, so a copy queued behind its original sees
        the original recorded.
        """
        key = self.key(alert, channel)
        entry = self._entries.get(key)
        if alert.status == "resolved":
            return Decision.SEND if entry is None else Decision.SKIP_DUPLICATE
        if entry is None:
            return Decision.SKIP_DUPLICATE if self._closed(alert, channel) else Decision.SEND
        if entry.alert is None:  # superseded by an escalation: a stale copy
            return Decision.SKIP_DUPLICATE
        if now - entry.delivered_at < self.window:
            return Decision.SKIP_DUPLICATE
        return Decision.SEND_REMINDER

    def _closed(self, alert: Alert, channel: str) -> bool:
        """``alert`` is a firing alert of an episode already resolved on ``channel``."""
        return any(k[2] == "resolved" and k[3] == channel
                   and alert.alert_id in self._entries[k].closes
                   for k in self._by_fp.get(alert.fingerprint, ()))

    def knows(self, fingerprint: str) -> bool:
        """Any delivery of ``fingerprint`` recorded, queued or held here (firing or resolved)."""
        return (fingerprint in self._by_fp or fingerprint in self._queued
                or self.held.knows(fingerprint))

    def firing_channels(self, fingerprint: str) -> set[str]:
        """Channels that received, are about to receive or hold a firing alert of
        ``fingerprint`` in its open episode: where its resolved alert goes (behind the firing
        one, so a recovery held after a held firing cancels it)."""
        keys = [*self._by_fp.get(fingerprint, ()), *self._queued.get(fingerprint, ())]
        return {k[3] for k in keys if k[2] == "firing"} | self.held.firing_channels(fingerprint)

    def due_reminders(self, now: float) -> list[tuple[Alert, str]]:
        """Alerts still firing ``dedup_window`` after their last delivery, each returned once
        until it is delivered again (``record``) or ``reminder_failed`` re-arms it."""
        due = []
        for (_, _, status, channel), entry in self._entries.items():
            if (status == "firing" and entry.alert is not None and not entry.reminder_queued
                    and now - entry.delivered_at >= self.window):
                entry.reminder_queued = True
                due.append((entry.alert, channel))
        return due

    def reminder_failed(self, alert: Alert, channel: str) -> None:
        entry = self._entries.get(self.key(alert, channel))
        if entry is not None:
            entry.reminder_queued = False

    # ------------------------------------------------------------------ in flight

    def queue(self, alert: Alert, channel: str) -> None:
        """``alert`` waits in ``channel``'s queue (each channel delivers in order)."""
        self._queued.setdefault(alert.fingerprint, Counter())[self.key(alert, channel)] += 1

    def done(self, alert: Alert, channel: str) -> None:
        """A queued delivery ended: delivered, skipped or given up."""
        queued = self._queued.get(alert.fingerprint)
        if queued is None:
            return
        key = self.key(alert, channel)
        queued[key] -= 1
        if queued[key] <= 0:
            del queued[key]
        if not queued:
            del self._queued[alert.fingerprint]

    # ------------------------------------------------------------------ changes

    def record(self, alert: Alert, channel: str, now: float, *, repeat: bool = False,
               horizon: float | None = None) -> list[Record]:
        """Note that ``channel`` accepted ``alert`` at ``now``; returns the records to persist.

        ``horizon``: the oldest alert a restart could read again (the trigger time of the
        partition's oldest uncommitted alert). Entries are expired as of ``horizon`` instead of
        ``now``, so a channel far behind, which holds the commit back, never makes the others
        forget what they delivered from the alerts a restart would read again."""
        now = float(now)
        key = self.key(alert, channel)
        changes: dict[Key, Entry | None] = {}
        siblings = [k for k in self._by_fp.get(alert.fingerprint, ()) if k[3] == channel
                    and k != key]
        if alert.status == "resolved":
            closes = {e.alert.alert_id for k in siblings if k[2] == "firing"
                      and (e := self._entries[k]).alert is not None}
            prior = self._entries.get(key)
            if prior is not None:
                closes |= prior.closes
            for k in siblings:
                if k[2] == "firing":
                    changes[k] = None  # the episode is over here: no reminders
                elif k[2] == "resolved":
                    closes |= self._entries[k].closes
            changes[key] = Entry(now, closes=frozenset(closes), repeat=repeat)
        elif self._closed(alert, channel):
            # A late copy of a firing alert whose episode is resolved here (a reminder that
            # raced the recovery): it was sent, but it must not reopen the episode. Renewing
            # the recovery's entry keeps further copies duplicates for another window.
            for k in siblings:
                if k[2] == "resolved" and alert.alert_id in (e := self._entries[k]).closes:
                    changes[k] = Entry(now, closes=e.closes, repeat=e.repeat)
        else:
            for k in siblings:
                if k[2] == "resolved":
                    changes[k] = None  # a new episode: its recovery is news again
                elif k[2] == "firing" and self._entries[k].alert is not None:
                    superseded = self._entries[k]
                    changes[k] = Entry(superseded.delivered_at, None, repeat=superseded.repeat)
            changes[key] = Entry(now, alert, repeat=repeat)
        for k, entry in changes.items():
            self._put(k, entry)
        out = [encode_entry(k, e) for k, e in changes.items()]
        return out + self.expire(now if horizon is None else min(now, horizon))

    def expire(self, now: float) -> list[Record]:
        """Drop resolved entries older than ``dedup_window``; returns their tombstones."""
        old: list[Key] = []
        for k, at in self._resolved.items():
            if now - at < self.window:
                break
            old.append(k)
        for k in old:
            self._put(k, None)
        return [encode_entry(k, None) for k in old]

    def _put(self, key: Key, entry: Entry | None) -> None:
        fp = key[0]
        self._resolved.pop(key, None)
        if entry is None:
            self._entries.pop(key, None)
            keys = self._by_fp.get(fp)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_fp[fp]
            return
        self._entries[key] = entry
        self._by_fp.setdefault(fp, set()).add(key)
        if key[2] == "resolved":
            self._resolved[key] = entry.delivered_at

    # ------------------------------------------------------------------ durability

    def entries(self) -> list[Record]:
        """Every entry and hold as a record: ``load(log.entries())`` rebuilds an equal log."""
        return [*(encode_entry(k, e) for k, e in self._entries.items()), *self.held.records()]

    def load(self, records: Iterable[Record],
             on_unreadable: Callable[[str], None] | None = None) -> int:
        """Apply records from the compacted topic in order (the latest per key wins).

        A record that cannot be read is skipped with a warning and handed (its reason) to
        ``on_unreadable``: losing one dedup fact costs at most one duplicate message, while
        refusing to start would stop every alert (NFR-006). Hold records go to ``held``.
        """
        bad = 0
        for raw_key, raw_value in records:
            try:
                if is_hold_key(raw_key):
                    self.held.apply(raw_key, raw_value)
                    continue
                if is_group_key(raw_key):
                    continue  # FR-027: the state of the groups partition of the same number
                key, entry = decode_entry(raw_key, raw_value)
            except ValueError as exc:
                bad += 1
                log.warning("delivery log: skipped a record (%s)", exc)
                if on_unreadable is not None:
                    on_unreadable(str(exc))
                continue
            self._put(key, entry)
        if bad:
            log.warning("delivery log: %d unreadable record(s) skipped", bad)
        return len(self._entries)
