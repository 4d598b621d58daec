"""FR-009 delivery log, pure: duplicates, reminders, escalations, episodes, durability, memory."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.events import Alert
from dq_monitor.routing.dedup import (
    Decision,
    DeliveryLog,
    Entry,
    Record,
    decode_entry,
    encode_entry,
)
from dq_monitor.testing import make_alert

WINDOW = 300.0
SEND, REMIND, SKIP = Decision.SEND, Decision.SEND_REMINDER, Decision.SKIP_DUPLICATE


def resolved(severity: Literal["WARN", "FAIL"] = "FAIL", fp: str = "ab" * 16) -> Alert:
    return make_alert(severity=severity, status="resolved", fp=fp, alert_id="resolved-1")


@pytest.mark.req("FR-009")
def test_same_alert_within_the_window_is_a_duplicate_per_channel() -> None:
    log = DeliveryLog(WINDOW)
    a = make_alert()
    assert log.decide(a, "slack", 0) is SEND
    log.record(a, "slack", 0)
    assert log.decide(a, "slack", 10) is SKIP
    assert log.decide(make_alert(alert_id="re-sent-by-the-monitor"), "slack", 10) is SKIP
    assert log.decide(a, "email", 10) is SEND
    assert log.decide(a, "slack", WINDOW - 0.001) is SKIP
    assert log.decide(a, "slack", WINDOW) is REMIND


@pytest.mark.req("FR-009")
def test_escalation_is_never_a_duplicate_and_supersedes_the_lower_severity() -> None:
    log = DeliveryLog(WINDOW)
    warn, fail = make_alert(severity="WARN", alert_id="w"), make_alert(severity="FAIL")
    log.record(warn, "slack", 0)
    assert log.decide(fail, "slack", 1) is SEND
    log.record(fail, "slack", 1)
    assert log.decide(warn, "slack", 2) is SKIP
    assert log.decide(warn, "slack", 2 * WINDOW) is SKIP  # a stale copy, never a reminder
    assert log.due_reminders(2 * WINDOW) == [(fail, "slack")]


@pytest.mark.req("FR-009")
def test_resolved_goes_where_firing_went_once() -> None:
    log = DeliveryLog(WINDOW)
    firing = make_alert()
    log.record(firing, "slack", 0)
    log.record(firing, "email", 0)
    assert log.firing_channels(firing.fingerprint) == {"slack", "email"}
    assert log.firing_channels("cd" * 16) == set()
    log.record(resolved(), "slack", 5)
    assert log.decide(resolved(), "slack", 6) is SKIP
    assert log.decide(resolved(), "email", 6) is SEND
    assert log.firing_channels(firing.fingerprint) == {"email"}  # until it has it too
    log.record(resolved(), "email", 6)
    assert log.firing_channels(firing.fingerprint) == set()
    assert log.due_reminders(10 * WINDOW) == []  # recovered: no more reminders


@pytest.mark.req("FR-009")
def test_a_re_fire_is_news_but_a_replay_of_the_closed_episode_is_not() -> None:
    log = DeliveryLog(WINDOW)
    first = make_alert(alert_id="first")
    log.record(first, "slack", 0)
    log.record(resolved(), "slack", 5)
    assert log.decide(first, "slack", 7) is SKIP  # the same record read again after a crash
    refire = make_alert(alert_id="second")
    assert log.decide(refire, "slack", 7) is SEND
    log.record(refire, "slack", 7)
    assert log.firing_channels(refire.fingerprint) == {"slack"}
    assert log.decide(resolved(), "slack", 8) is SEND  # and so is its recovery


@pytest.mark.req("FR-009")
def test_a_reminder_that_raced_the_recovery_does_not_reopen_the_episode() -> None:
    log = DeliveryLog(WINDOW)
    a = make_alert()
    log.record(a, "slack", 0)
    assert log.due_reminders(WINDOW) == [(a, "slack")]  # queued...
    log.record(resolved(), "slack", WINDOW + 1)  # ...but the recovery was delivered first
    log.record(a, "slack", WINDOW + 2, repeat=True)  # then the reminder went out anyway
    assert log.firing_channels(a.fingerprint) == set()
    assert log.due_reminders(10 * WINDOW) == []


@pytest.mark.req("FR-009")
def test_resolved_follows_a_firing_delivery_still_in_flight() -> None:
    log = DeliveryLog(WINDOW)
    firing = make_alert()
    log.queue(firing, "slack")
    log.queue(firing, "slack")  # the monitor published it twice
    assert log.firing_channels(firing.fingerprint) == {"slack"}
    log.done(firing, "slack")
    assert log.firing_channels(firing.fingerprint) == {"slack"}  # the copy is still queued
    log.done(firing, "slack")
    assert log.firing_channels(firing.fingerprint) == set()
    log.done(firing, "slack")  # an extra done is harmless
    assert log.firing_channels(firing.fingerprint) == set()


@pytest.mark.req("FR-009")
def test_reminders_once_per_window_while_firing() -> None:
    log = DeliveryLog(WINDOW)
    a = make_alert()
    log.record(a, "slack", 0)
    assert log.due_reminders(WINDOW - 1) == []
    assert log.due_reminders(WINDOW) == [(a, "slack")]
    assert log.due_reminders(WINDOW + 1) == []  # queued once, until delivered
    log.reminder_failed(a, "slack")
    assert log.due_reminders(WINDOW + 2) == [(a, "slack")]  # re-armed after a failure
    log.record(a, "slack", WINDOW + 3, repeat=True)
    assert log.decide(a, "slack", WINDOW + 4) is SKIP
    assert log.due_reminders(2 * WINDOW + 2) == []
    assert log.due_reminders(2 * WINDOW + 3) == [(a, "slack")]


@pytest.mark.req("FR-009")
def test_the_log_survives_a_restart_through_its_records() -> None:
    log = DeliveryLog(WINDOW)
    records: list[Record] = []
    records += log.record(make_alert(severity="WARN"), "slack", 0)
    records += log.record(make_alert(), "slack", 1)
    records += log.record(make_alert(fp="cd" * 16), "slack", 0)
    records += log.record(resolved(fp="cd" * 16), "slack", 1)
    restored = DeliveryLog(WINDOW)
    assert restored.load([(b"garbage", b"{"), *records]) == len(log)  # bad records skipped
    assert sorted(restored.entries()) == sorted(log.entries())
    assert restored.decide(make_alert(), "slack", 5) is SKIP
    assert restored.decide(resolved(fp="cd" * 16), "slack", 5) is SKIP
    assert restored.firing_channels("cd" * 16) == set()
    assert restored.firing_channels("ab" * 16) == {"slack"}
    assert restored.due_reminders(WINDOW + 1) == [(make_alert(), "slack")]  # FAIL only


@pytest.mark.req("FR-009")
def test_entries_encode_as_json_with_tombstones() -> None:
    key = ("ab" * 16, "FAIL", "firing", "slack")
    entry = Entry(12.5, make_alert(), repeat=True)
    raw_key, raw_value = encode_entry(key, entry)
    assert raw_key == "\x1f".join(key).encode() and raw_value is not None
    assert decode_entry(raw_key, raw_value) == (key, entry)
    assert encode_entry(key, None) == (raw_key, None)
    assert decode_entry(raw_key, None) == (key, None)
    for bad in (b"[]", b'{"alert": 1}', b"not json"):
        with pytest.raises(ValueError, match="delivery-log"):
            decode_entry(raw_key, bad)


@pytest.mark.req("FR-009")
def test_memory_is_bounded_by_firing_alerts_plus_one_window_of_recoveries() -> None:
    log = DeliveryLog(WINDOW)
    for i in range(100):
        fp = f"{i:032x}"
        log.record(make_alert(fp=fp), "slack", i)
        log.record(resolved(fp=fp), "slack", i + 1)
    assert len(log) == 100  # the recoveries; every firing entry is gone
    tombstones = log.expire(100 + WINDOW)
    assert len(log) == 0 and len(tombstones) == 100
    assert all(value is None for _, value in tombstones)
    still = make_alert(fp="ff" * 16)
    records = log.record(still, "slack", 10 * WINDOW)
    assert len(log) == 1 and records == log.entries()


@pytest.mark.req("FR-009", "FR-010", "NFR-008")
def test_what_a_restart_may_read_again_is_not_forgotten_while_a_channel_lags() -> None:
    log = DeliveryLog(WINDOW)
    old = make_alert(fp="0a" * 16, alert_id="old-firing")
    log.record(old, "fast", 0)
    log.record(resolved(fp="0a" * 16), "fast", 1)
    # much later, another channel still has alerts triggered at 0.5 to deliver: the commit is
    # held there, and a restart would read the old episode again
    later = log.record(make_alert(fp="0b" * 16), "fast", 10 * WINDOW, horizon=0.5)
    assert all(value is not None for _, value in later)  # no tombstone
    assert log.decide(old, "fast", 10 * WINDOW) is SKIP  # the replay is still a duplicate
    # once the lagging channel caught up, the window counts from now again
    caught_up = log.record(make_alert(fp="0c" * 16), "fast", 10 * WINDOW + 1, horizon=None)
    assert [v for _, v in caught_up].count(None) == 1
    assert log.decide(old, "fast", 10 * WINDOW + 1) is SEND


# ----------------------------------------------------------------------------- properties

FPS = ["01" * 16, "02" * 16]
CHANNELS = ["slack", "email"]
operations = st.lists(
    st.tuples(
        st.sampled_from(FPS), st.sampled_from(["WARN", "FAIL"]),
        st.sampled_from(["firing", "resolved"]), st.sampled_from(CHANNELS),
        st.sampled_from(["a", "b", "c"]),  # alert ids: replays and re-fires
        st.floats(0, WINDOW * 1.5),  # time step
    ),
    max_size=30,
)


def alert_of(fp: str, severity: str, status: str, alert_id: str) -> Alert:
    return make_alert(fp=fp, severity=severity, status=status, alert_id=alert_id)  # type: ignore[arg-type]


@pytest.mark.req("FR-009")
@given(operations)
def test_replaying_the_records_rebuilds_the_same_log(ops: list[tuple[str, str, str, str, str,
                                                                     float]]) -> None:
    log, records, now = DeliveryLog(WINDOW), list[Record](), 0.0
    for fp, severity, status, channel, alert_id, step in ops:
        now += step
        records += log.record(alert_of(fp, severity, status, alert_id), channel, now)
    restored = DeliveryLog(WINDOW)
    restored.load(records)
    assert dict(restored.entries()) == dict(log.entries())
    for fp in FPS:
        assert restored.firing_channels(fp) == log.firing_channels(fp)
        for probe in (("FAIL", "firing", "a"), ("WARN", "firing", "b"), ("FAIL", "resolved", "r")):
            for channel in CHANNELS:
                a = alert_of(fp, *probe)
                assert restored.decide(a, channel, now + 1) is log.decide(a, channel, now + 1)


@pytest.mark.req("FR-009")
@given(operations)
def test_a_recorded_delivery_is_a_duplicate_within_the_window(
    ops: list[tuple[str, str, str, str, str, float]]
) -> None:
    log, now = DeliveryLog(WINDOW), 0.0
    for fp, severity, status, channel, alert_id, step in ops:
        now += step
        a = alert_of(fp, severity, status, alert_id)
        log.record(a, channel, now)
        assert log.decide(a, channel, now) is SKIP
        assert log.decide(a, channel, now + WINDOW - 1) is SKIP
        if status == "resolved":
            assert channel not in log.firing_channels(fp)
        elif log.decide(a, channel, now + WINDOW) is not SKIP:  # not a closed-episode replay
            assert channel in log.firing_channels(fp)


@pytest.mark.req("FR-009", "FR-021")
def test_a_failed_resolved_closes_the_episode_and_unknown_episodes_are_known_as_such() -> None:
    log = DeliveryLog(dedup_window=60)
    assert not log.knows("ab" * 16)
    firing = make_alert()
    log.record(firing, "slack", 0)
    assert log.knows(firing.fingerprint)
    # the router records a resolved it gave up on as it records a delivered one
    log.record(resolved(), "slack", 5)
    assert log.due_reminders(1000) == []
    assert log.decide(make_alert(alert_id="a-new-episode"), "slack", 6) is Decision.SEND
