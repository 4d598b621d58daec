"""The deployment-wide firing view folded from alert-topic records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dq_monitor.api import FiringView
from dq_monitor.testing import make_alert


@pytest.mark.req("FR-019")
def test_newest_alert_per_fingerprint_wins_and_a_recovery_removes_it() -> None:
    view = FiringView()
    warn = make_alert("WARN", fp="01" * 16)
    fail = make_alert("FAIL", fp="01" * 16).model_copy(
        update={"event_time": warn.event_time + timedelta(minutes=5)})
    other = make_alert("WARN", fp="02" * 16)
    for alert in (warn, other, fail):
        view.apply_record(alert.to_json())
    view.apply_record(b"not an alert")
    view.apply_record(None)
    [first, second] = view.firing()
    assert first.alert == fail and first.since == warn.event_time  # escalation keeps "since"
    assert second.alert == other and view.unreadable == 2
    view.apply(make_alert(status="resolved", fp="01" * 16))
    assert [f.alert.fingerprint for f in view.firing()] == ["02" * 16]
