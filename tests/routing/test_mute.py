"""FR-018 mute windows as plain code: when a window is active (what is decided when it ends:
``test_hold``)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from dq_monitor.routing.mute import MuteWindow


def window(start: str, end: str, days: tuple[int, ...] = tuple(range(7)),
           zone: str = "Europe/Berlin") -> MuteWindow:
    return MuteWindow("w", frozenset(days), ((time.fromisoformat(start),
                                             time.fromisoformat(end)),), ZoneInfo(zone))


@pytest.mark.req("FR-018")
def test_active_in_the_windows_own_time_zone() -> None:
    w = window("01:00", "03:00")
    # 00:30 UTC is 01:30 in Berlin in winter (UTC+1), 02:30 in summer (UTC+2)
    assert w.active(datetime(2026, 1, 15, 0, 30, tzinfo=UTC))
    assert w.active(datetime(2026, 7, 15, 0, 30, tzinfo=UTC))
    assert not w.active(datetime(2026, 1, 15, 2, 0, tzinfo=UTC))  # 03:00 Berlin: ended
    assert not w.active(datetime(2026, 1, 14, 23, 59, tzinfo=UTC))  # 00:59 Berlin


@pytest.mark.req("FR-018")
def test_a_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    friday_night = window("22:00", "06:00", days=(4,), zone="UTC")
    assert friday_night.active(datetime(2026, 12, 4, 23, 0, tzinfo=UTC))  # Friday 23:00
    assert friday_night.active(datetime(2026, 12, 5, 5, 59, tzinfo=UTC))  # Saturday 05:59
    assert not friday_night.active(datetime(2026, 12, 5, 23, 0, tzinfo=UTC))  # Saturday night
    assert not friday_night.active(datetime(2026, 12, 4, 5, 0, tzinfo=UTC))  # Friday morning
