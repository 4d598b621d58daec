"""FR-009 delivery log, pure: duplicates, reminders, escalations, episodes, durability."""

from __future__ import annotations

import pytest

from dq_monitor.routing.dedup import Decision, DeliveryLog
from tests.channels.conftest import make_alert

WINDOW = 300.0


@pytest.mark.req("FR-009")
def test_same_alert_within_the_window_is_a_duplicate_per_channel() -> None:
    log = DeliveryLog(WINDOW)
    a = make_alert()
    assert log.decide(a, "slack", 0) is Decision.SEND
    log.record(a, "slack", 0)
    assert log.decide(a, "slack", 10) is Decision.SKIP_DUPLICATE
    assert log.decide(a, "email", 10) is Decision.SEND
    assert log.decide(a, "slack", WINDOW + 1) is Decision.SEND_REMINDER


@pytest.mark.req("FR-009")
def test_escalation_is_never_a_duplicate() -> None:
    log = DeliveryLog(WINDOW)
    log.record(make_alert(severity="WARN"), "slack", 0)
    assert log.decide(make_alert(severity="FAIL"), "slack", 1) is Decision.SEND


@pytest.mark.req("FR-009")
def test_resolved_goes_where_firing_went_and_closes_the_episode() -> None:
    log = DeliveryLog(WINDOW)
    firing = make_alert()
    log.record(firing, "slack", 0)
    log.record(firing, "email", 0)
    assert log.firing_channels(firing.fingerprint) == {"slack", "email"}
    resolved = make_alert(status="resolved")
    for ch in ("slack", "email"):
        log.record(resolved, ch, 5)
    assert log.decide(resolved, "slack", 6) is Decision.SKIP_DUPLICATE
    assert log.firing_channels(firing.fingerprint) == set()
    assert log.decide(firing, "slack", 7) is Decision.SEND  # a re-fire is news
    log.record(firing, "slack", 7)
    assert log.decide(resolved, "slack", 8) is Decision.SEND  # and so is its recovery


@pytest.mark.req("FR-009")
def test_resolved_follows_a_firing_delivery_still_in_flight() -> None:
    log = DeliveryLog(WINDOW)
    firing = make_alert()
    log.queue(firing, "slack")  # queued, not yet delivered
    assert log.firing_channels(firing.fingerprint) == {"slack"}
    log.done(firing, "slack")
    assert log.firing_channels(firing.fingerprint) == set()


@pytest.mark.req("FR-009")
def test_reminders_once_per_window_while_firing() -> None:
    log = DeliveryLog(WINDOW)
    a = make_alert()
    log.record(a, "slack", 0)
    assert log.due_reminders(WINDOW - 1) == []
    assert log.due_reminders(WINDOW) == [(a, "slack")]
    assert log.due_reminders(WINDOW + 1) == []  # queued once, until delivered
    log.record(a, "slack", WINDOW + 2, repeat=True)
    assert log.due_reminders(2 * WINDOW + 3) == [(a, "slack")]


@pytest.mark.req("FR-009")
def test_log_survives_a_restart_through_its_records() -> None:
    log = DeliveryLog(WINDOW)
    records = []
    records += log.record(make_alert(), "slack", 0)
    records += log.record(make_alert(fp="cd" * 16), "slack", 0)
    records += log.record(make_alert(fp="cd" * 16, status="resolved"), "slack", 1)
    restored = DeliveryLog(WINDOW)
    restored.load(records)
    assert restored.decide(make_alert(), "slack", 5) is Decision.SKIP_DUPLICATE
    assert restored.firing_channels("cd" * 16) == set()
    assert restored.firing_channels("ab" * 16) == {"slack"}
