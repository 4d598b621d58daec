"""FR-018 mute windows as plain code: when a window is active, and what is decided when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from dq_monitor.routing.mute import Hold, MuteWindow
from dq_monitor.testing import make_alert


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


@pytest.mark.req("FR-018")
def test_released_when_free_a_firing_alert_is_sent_once() -> None:
    hold: Hold[str] = Hold()
    hold.add(make_alert(alert_id="a"), "slack", "first")
    hold.add(make_alert(alert_id="b"), "slack", "copy")
    assert hold.release(lambda item: True) == ([], [])  # still muted: nothing decided
    assert hold.release(lambda item: False) == (["copy"], ["first"])
    assert len(hold) == 0


@pytest.mark.req("FR-018")
def test_an_incident_that_began_and_ended_while_muted_is_not_sent() -> None:
    hold: Hold[str] = Hold()
    hold.add(make_alert(), "slack", "fire")
    hold.add(make_alert(status="resolved"), "slack", "resolve")
    assert hold.release(lambda item: False) == ([], ["fire", "resolve"])


@pytest.mark.req("FR-018")
def test_a_recovery_of_an_alert_delivered_before_the_window_is_sent() -> None:
    hold: Hold[str] = Hold()
    hold.add(make_alert(status="resolved"), "slack", "resolve")
    assert hold.holds(make_alert(), "slack") and not hold.holds(make_alert(), "mail")
    assert hold.release(lambda item: False) == (["resolve"], [])


@pytest.mark.req("FR-018", "FR-021")
def test_items_of_a_revoked_partition_can_be_dropped() -> None:
    hold: Hold[tuple[int, str]] = Hold()
    hold.add(make_alert(fp="01" * 16), "slack", (0, "a"))
    hold.add(make_alert(fp="02" * 16), "slack", (1, "b"))
    assert hold.drop_where(lambda item: item[0] == 1) == [(1, "b")]
    assert len(hold) == 1
