"""FR-018 mute windows: recurring times when a route's deliveries are held, as plain code.

A window is a set of weekdays and times of day in an IANA time zone (``end`` before ``start``
crosses midnight: the window runs from ``start`` on a listed day to ``end`` the next day).
Muting acts at delivery: the alert topic still carries every alert. A delivery that falls in a
window is held (counted ``silenced``) and decided again when no window holds it any more:

* the last thing held for an (alert, channel) is a firing alert: it is delivered then, once;
* a recovery held after a firing that was itself held: neither is sent (the incident began and
  ended while muted);
* a recovery held after a firing that was delivered before the window: the recovery is sent.

``Hold`` keeps the held deliveries in arrival order; the router keeps each one's input offset
uncommitted until it is released, so a restart during a window re-reads and holds them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from dq_monitor.config import MuteWindowConfig
from dq_monitor.events import Alert

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class MuteWindow:
    name: str
    weekdays: frozenset[int]  # 0 = Monday
    spans: tuple[tuple[time, time], ...]
    zone: ZoneInfo

    @classmethod
    def from_config(cls, name: str, cfg: MuteWindowConfig) -> MuteWindow:
        days: list[str] = list(cfg.weekdays) if cfg.weekdays else list(WEEKDAYS)
        return cls(
            name,
            frozenset(WEEKDAYS.index(d) for d in days),
            tuple((time.fromisoformat(s.start), time.fromisoformat(s.end)) for s in cfg.times),
            ZoneInfo(cfg.time_zone),
        )

    def active(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls in the window, in the window's own time zone."""
        local = now.astimezone(self.zone)
        t, day = local.time(), local.weekday()
        yesterday = (day - 1) % 7
        for start, end in self.spans:
            if start < end:
                if day in self.weekdays and start <= t < end:
                    return True
            elif (day in self.weekdays and t >= start) or (yesterday in self.weekdays
                                                            and t < end):
                return True  # crosses midnight: started today, or yesterday
        return False


T = TypeVar("T")


@dataclass(slots=True)
class _Held(Generic[T]):
    alert: Alert
    item: T


@dataclass(slots=True)
class Hold(Generic[T]):
    """Held deliveries per (fingerprint, channel), each with the caller's own item (a job)."""

    _held: dict[tuple[str, str], list[_Held[T]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(v) for v in self._held.values())

    def add(self, alert: Alert, channel: str, item: T) -> None:
        self._held.setdefault((alert.fingerprint, channel), []).append(_Held(alert, item))

    def holds(self, alert: Alert, channel: str) -> bool:
        return (alert.fingerprint, channel) in self._held

    def release(self, still_muted: Callable[[T], bool]) -> tuple[list[T], list[T]]:
        """Decide every key whose last held item is no longer muted: ``(send, drop)`` items."""
        send: list[T] = []
        drop: list[T] = []
        for key in [k for k, v in self._held.items() if not still_muted(v[-1].item)]:
            held = self._held.pop(key)
            last = held[-1]
            if last.alert.status == "firing":
                send.append(last.item)  # still firing when the window ended: once
                drop.extend(h.item for h in held[:-1])
            elif any(h.alert.status == "firing" for h in held):
                drop.extend(h.item for h in held)  # began and ended while muted
            else:
                send.append(last.item)  # its firing was delivered before the window
                drop.extend(h.item for h in held[:-1])
        return send, drop

    def drop_where(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove and return the held items ``predicate`` selects (e.g. of a revoked partition)."""
        out: list[T] = []
        for key in list(self._held):
            keep = [h for h in self._held[key] if not predicate(h.item)]
            out.extend(h.item for h in self._held[key] if predicate(h.item))
            if keep:
                self._held[key] = keep
            else:
                del self._held[key]
        return out
