"""FR-009 per-channel delivery log: the decision logic, sans I/O.

Keyed by (fingerprint, severity, status, channel) with the time of the last successful delivery.
A firing alert delivered within ``dedup_window`` is a duplicate; one delivered longer ago and
still firing is due again as a reminder (``repeat: true``). An escalation has another severity,
so it is never a duplicate. A delivered ``resolved`` closes the episode (the firing entries of
that fingerprint are dropped) and a delivered firing after it opens a new one (the resolved
entries are dropped): a re-fire is news, not a duplicate of the old page, and so is its
recovery. Flap damping upstream keeps that from becoming noise. Every change is returned as
records for a compacted topic, which ``load`` reads back at start: dedup survives restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from dq_monitor.events import Alert

SEP = "\x1f"
Key = tuple[str, str, str, str]  # fingerprint, severity, status, channel
Record = tuple[bytes, bytes | None]  # compacted-topic key, value (None deletes)


class Decision(Enum):
    SEND = "send"
    SEND_REMINDER = "reminder"
    SKIP_DUPLICATE = "duplicate"


@dataclass(slots=True)
class Entry:
    delivered_at: float
    #: The firing alert, kept so reminders can be sent without a new event.
    alert: Alert | None = None
    reminder_queued: bool = False


def encode_key(key: Key) -> bytes:
    return SEP.join(key).encode()


def decode_key(raw: bytes) -> Key:
    fp, severity, status, channel = raw.decode().split(SEP, 3)
    return fp, severity, status, channel


class DeliveryLog:
    def __init__(self, dedup_window: float) -> None:
        self.window = dedup_window
        self.entries: dict[Key, Entry] = {}
        #: Deliveries queued or under way (a resolved alert must follow them to their channel).
        self.queued: set[Key] = set()

    @staticmethod
    def key(alert: Alert, channel: str) -> Key:
        return alert.fingerprint, alert.severity, alert.status, channel

    def queue(self, alert: Alert, channel: str) -> None:
        """``alert`` waits in ``channel``'s queue; deliveries of one channel happen in order."""
        self.queued.add(self.key(alert, channel))

    def decide(self, alert: Alert, channel: str, now: float) -> Decision:
        """What to do with ``alert`` on ``channel`` now, given every delivery done before it.

        The router asks at delivery time, in the channel's own order, so a copy queued behind
        the original sees it recorded.
        """
        entry = self.entries.get(self.key(alert, channel))
        if entry is None:
            return Decision.SEND
        if now - entry.delivered_at < self.window:
            return Decision.SKIP_DUPLICATE
        return Decision.SEND_REMINDER if alert.status == "firing" else Decision.SEND

    def record(self, alert: Alert, channel: str, now: float, *, repeat: bool = False
               ) -> list[Record]:
        """Note a successful delivery; returns the records that make it durable."""
        key = self.key(alert, channel)
        out: list[Record] = []
        # A delivered resolved closes the episode; a delivered new firing opens one, so the
        # other status's entries of this fingerprint and channel no longer apply.
        other = "firing" if alert.status == "resolved" else "resolved"
        for k in [k for k in self.entries if k[0] == alert.fingerprint and k[2] == other
                  and k[3] == channel and not (other == "firing" and k == key)]:
            del self.entries[k]
            out.append((encode_key(k), None))
        entry = Entry(now) if alert.status == "resolved" else Entry(now, alert)
        self.entries[key] = entry
        out.append((encode_key(key), orjson.dumps(
            {"delivered_at": now, "repeat": repeat,
             "alert": None if entry.alert is None else entry.alert.model_dump(mode="json")})))
        out += self._expire(now)
        return out

    def done(self, alert: Alert, channel: str) -> None:
        """The queued delivery ended (delivered, skipped or given up)."""
        self.queued.discard(self.key(alert, channel))

    def firing_channels(self, fingerprint: str) -> set[str]:
        """Channels that received — or are about to receive — the firing alert of
        ``fingerprint``: the resolved alert goes there, queued behind it."""
        return {k[3] for k in (*self.entries, *self.queued)
                if k[0] == fingerprint and k[2] == "firing"}

    def due_reminders(self, now: float) -> list[tuple[Alert, str]]:
        """Firing alerts whose last delivery is older than the window, once each until sent."""
        due = []
        for (_, _, status, channel), entry in self.entries.items():
            if (status == "firing" and entry.alert is not None and not entry.reminder_queued
                    and now - entry.delivered_at >= self.window):
                entry.reminder_queued = True
                due.append((entry.alert, channel))
        return due

    def reminder_failed(self, alert: Alert, channel: str) -> None:
        entry = self.entries.get(self.key(alert, channel))
        if entry is not None:
            entry.reminder_queued = False

    def _expire(self, now: float) -> list[Record]:
        """Resolved entries older than the window are of no further use: drop them."""
        old = [k for k, e in self.entries.items()
               if k[2] == "resolved" and now - e.delivered_at >= self.window]
        for k in old:
            del self.entries[k]
        return [(encode_key(k), None) for k in old]

    def load(self, records: Iterable[Record]) -> None:
        """Rebuild from the compacted topic (latest record per key wins)."""
        for raw_key, raw_value in records:
            key = decode_key(raw_key)
            if raw_value is None:
                self.entries.pop(key, None)
                continue
            value: dict[str, Any] = orjson.loads(raw_value)
            alert = value.get("alert")
            self.entries[key] = Entry(float(value["delivered_at"]),
                                      None if alert is None else Alert.model_validate(alert))
