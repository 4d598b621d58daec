"""FR-018 mute windows: recurring times when a route's deliveries are held, as plain code.

A window is a set of weekdays and times of day in an IANA time zone (``end`` before ``start``
crosses midnight: the window runs from ``start`` on a listed day to ``end`` the next day).
Muting acts at delivery: the alert topic still carries every alert. A delivery that falls in a
window is held (counted ``silenced``) and decided again when no window holds it any more, by the
release rules of ``routing.hold``. The hold is a record in the delivery log, not an uncommitted
offset (NFR-008): a restart during a window restores it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from dq_monitor.config import MuteWindowConfig

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
