"""Held deliveries, pure (FR-018, NFR-008): what is held, its delivery-log records, release rules,
tombstones, restores and unreadable records."""

from __future__ import annotations

from typing import Literal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.config import Route
from dq_monitor.events import Alert
from dq_monitor.routing.dedup import DeliveryLog, Record
from dq_monitor.routing.dispatch import held, targets
from dq_monitor.routing.hold import Held, HoldReason, Holds, decode, encode, encode_key
from dq_monitor.testing import make_alert

SILENCE, MUTE = HoldReason.SILENCE, HoldReason.MUTE
FIRING = make_alert(alert_id="firing-1")
RESOLVED = make_alert(status="resolved", alert_id="resolved-1")


def restored(records: list[Record]) -> Holds:
    """The holds a restart (or the partition's next owner) rebuilds from the delivery log."""
    log = DeliveryLog(300)
    log.load(records)
    return log.held


def nothing_holds(_: Held) -> bool:
    return False


def sent(holds: Holds) -> list[tuple[str, str, str]]:
    return [(h.alert.alert_id, h.alert.status, h.channel)
            for h in holds.release(nothing_holds).send]


@pytest.mark.req("NFR-008", "FR-018")
def test_a_held_firing_alert_is_restored_and_sent_once_when_released() -> None:
    holds = Holds()
    records = holds.hold(FIRING, "slack", 10, SILENCE)
    records += holds.hold(make_alert(alert_id="firing-2"), "slack", 20)  # a copy, behind it
    after_restart = restored(records)
    assert after_restart.holds(FIRING, "slack") and not after_restart.holds(FIRING, "email")
    assert after_restart.release(lambda h: True).send == []  # still silenced: nothing decided
    assert sent(after_restart) == [("firing-2", "firing", "slack")]
    assert sent(after_restart) == []  # decided once
    assert len(after_restart) == 0


@pytest.mark.req("NFR-008", "FR-018")
def test_an_incident_that_began_and_ended_held_is_dropped_and_tombstoned() -> None:
    holds = Holds()
    records = holds.hold(FIRING, "slack", 10, MUTE, mutes=(("nightly",),))
    records += holds.hold(RESOLVED, "slack", 20)
    after_restart = restored(records)
    out = after_restart.release(nothing_holds)
    assert out.send == [] and [h.alert.alert_id for h in out.dropped] == ["resolved-1"]
    assert out.records == [(encode_key((FIRING.fingerprint, "slack")), None)]
    assert len(restored(records + out.records)) == 0  # never released again


@pytest.mark.req("NFR-008", "FR-018")
def test_a_recovery_of_an_alert_delivered_before_the_hold_is_sent() -> None:
    holds = Holds()
    records = holds.hold(RESOLVED, "slack", 10, SILENCE)
    assert sent(restored(records)) == [("resolved-1", "resolved", "slack")]


@pytest.mark.req("NFR-008", "FR-018")
def test_a_re_fire_after_a_held_incident_is_sent_once() -> None:
    holds = Holds()
    for alert in (FIRING, RESOLVED, make_alert(alert_id="firing-2")):
        holds.hold(alert, "slack", 10, SILENCE)
    assert sent(holds) == [("firing-2", "firing", "slack")]


@pytest.mark.req("NFR-008", "FR-018")
def test_a_sent_hold_stays_on_the_log_until_its_delivery_ended_then_is_tombstoned() -> None:
    holds = Holds()
    log = holds.hold(FIRING, "slack", 10, SILENCE)
    out = holds.release(nothing_holds)
    assert [h.alert for h in out.send] == [FIRING] and out.records == []
    # a crash before the delivery ended: the next start releases it again (at least once)
    assert sent(restored(log + out.records)) == [("firing-1", "firing", "slack")]
    tombstone = holds.settled(FIRING.fingerprint, "slack")
    assert tombstone == [(encode_key((FIRING.fingerprint, "slack")), None)]
    assert holds.settled(FIRING.fingerprint, "slack") == []  # settled once
    assert len(restored(log + out.records + tombstone)) == 0


@pytest.mark.req("NFR-008", "FR-018", "FR-010")
def test_a_release_its_full_queue_cannot_take_is_held_again_and_released_later() -> None:
    holds = Holds()
    log = holds.hold(FIRING, "slack", 10, SILENCE, triggered_at=9.5)
    (h,) = holds.release(nothing_holds).send
    holds.unrelease(h)  # the channel's queue was full: nothing dropped, nothing written
    assert holds.holds(FIRING, "slack") and holds.get(FIRING.fingerprint, "slack") == h
    assert holds.settled(FIRING.fingerprint, "slack") == []  # not under way: no tombstone
    assert sent(holds) == [("firing-1", "firing", "slack")]  # the next check releases it
    assert sent(restored(log)) == [("firing-1", "firing", "slack")]
    holds.hold(FIRING, "slack", 12, SILENCE)
    holds.unrelease(h)  # held anew meanwhile: the new hold stays as it is
    assert holds.get(FIRING.fingerprint, "slack") != h


@pytest.mark.req("NFR-008", "FR-018")
def test_held_again_while_its_release_is_delivered_the_new_hold_is_not_tombstoned() -> None:
    holds = Holds()
    log = holds.hold(FIRING, "slack", 10, SILENCE)
    holds.release(nothing_holds)
    log += holds.hold(FIRING, "slack", 11, SILENCE)  # a new silence caught the released job
    assert holds.settled(FIRING.fingerprint, "slack") == []
    assert restored(log).holds(FIRING, "slack")


@pytest.mark.req("NFR-008", "FR-018")
def test_the_state_is_bounded_the_last_held_delivery_per_fingerprint_and_channel() -> None:
    holds = Holds()
    log: list[Record] = []
    for i in range(50):
        log += holds.hold(make_alert(alert_id=f"copy-{i}"), "slack", i, SILENCE)
        log += holds.hold(make_alert(fp=f"{i:032x}"), "email", i, MUTE, mutes=(("w",),))
    assert len(holds) == 51
    compacted = dict(log)  # what a compacted topic keeps: the latest record per key
    assert len(compacted) == 51 and sorted(compacted.items()) == sorted(holds.records())
    last = holds.get(FIRING.fingerprint, "slack")
    assert last is not None and last.alert.alert_id == "copy-49" and last.since == 0


@pytest.mark.req("NFR-008", "FR-018")
def test_the_reason_is_what_began_the_hold_and_a_new_hold_needs_one() -> None:
    holds = Holds()
    with pytest.raises(ValueError, match="needs a reason"):
        holds.hold(FIRING, "slack", 0)
    holds.hold(FIRING, "slack", 0, MUTE, mutes=(("nightly",),))
    holds.hold(RESOLVED, "slack", 5, SILENCE)
    h = holds.get(FIRING.fingerprint, "slack")
    assert h is not None and h.reason is MUTE and h.firing_held and h.alert == RESOLVED
    assert h.since == 0 and h.mutes == ()  # the last held delivery's route lists


@pytest.mark.req("NFR-008", "FR-018")
def test_the_release_check_sees_the_last_held_delivery() -> None:
    holds = Holds()
    holds.hold(FIRING, "slack", 0, MUTE, mutes=(("nightly",),))
    holds.hold(FIRING, "email", 0, SILENCE)
    out = holds.release(lambda h: h.reason is SILENCE)
    assert [h.channel for h in out.send] == ["slack"] and holds.holds(FIRING, "email")


@pytest.mark.req("NFR-008", "FR-018")
def test_records_encode_every_field_as_json_and_decode_back() -> None:
    h = Held(FIRING, "slack", MUTE, 12.5, firing_held=True, mutes=(("a", "b"), ("c",)),
             repeat=True, triggered_at=11.0)
    raw_key, raw_value = encode(h.key, h)
    assert raw_key == f"\x1fheld\x1f{FIRING.fingerprint}\x1fslack".encode()
    assert raw_value is not None and orjson.loads(raw_value)["reason"] == "mute"
    assert decode(raw_key, raw_value) == (h.key, h)
    assert decode(raw_key, None) == (h.key, None)


def value(**changes: object) -> bytes:
    body = orjson.loads(encode(("ab" * 16, "slack"), Held(FIRING, "slack", SILENCE, 1.0))[1]
                        or b"")
    body.update(changes)
    return orjson.dumps(body)


UNREADABLE = [
    (encode_key(("ab" * 16, "slack")), b"not json"),
    (encode_key(("ab" * 16, "slack")), b"[]"),
    (encode_key(("ab" * 16, "slack")), value(reason="inhibited-by-a-newer-version")),
    (encode_key(("ab" * 16, "slack")), value(alert={"fingerprint": 1})),
    (encode_key(("ab" * 16, "slack")), value(since="yesterday")),
    (encode_key(("ab" * 16, "slack")), value(mutes=[[1]])),
    (encode_key(("ab" * 16, "slack")), value(firing_held="yes")),
    (encode_key(("cd" * 16, "slack")), value()),  # the alert is of another fingerprint
    (b"\x1fheld\x1fno-channel", value()),
    (b"\x1fheld\x1f\xff\xfe", value()),
]


@pytest.mark.req("NFR-008", "NFR-006")
@pytest.mark.parametrize(("raw_key", "raw_value"), UNREADABLE)
def test_an_unreadable_hold_is_skipped_and_reported_and_the_rest_restores(
        raw_key: bytes, raw_value: bytes) -> None:
    good = Holds().hold(make_alert(fp="ef" * 16), "email", 0, SILENCE)
    log, reasons = DeliveryLog(300), list[str]()
    log.load([(raw_key, raw_value), *good], on_unreadable=reasons.append)
    assert len(reasons) == 1 and "hold" in reasons[0]
    assert len(log.held) == 1 and log.held.holds(make_alert(fp="ef" * 16), "email")


# ----------------------------------------------------------------------------- the partition

@pytest.mark.req("NFR-008", "FR-018", "FR-021")
def test_a_recovery_goes_to_the_channel_holding_its_firing_alert() -> None:
    rs = [Route.model_validate({"match": {}, "channels": ["slack", "email"]})]
    log = DeliveryLog(300)
    log.record(make_alert(alert_id="old"), "email", 0)  # the episode is known on email
    log.held.hold(FIRING, "slack", 1, SILENCE)
    after_restart = DeliveryLog(300)
    after_restart.load(log.entries())
    assert after_restart.firing_channels(FIRING.fingerprint) == {"email", "slack"}
    assert sorted(targets(rs, after_restart, RESOLVED).channels) == ["email", "slack"]
    # a held firing alone makes the episode known: its recovery follows it, not the rules
    only_held = DeliveryLog(300)
    only_held.held.hold(FIRING, "slack", 1, SILENCE)
    assert only_held.knows(FIRING.fingerprint)
    assert not targets(rs, only_held, RESOLVED).unseen_episode


@pytest.mark.req("NFR-008", "FR-018")
def test_a_mute_window_no_longer_configured_holds_nothing() -> None:
    from datetime import UTC, datetime

    assert not held((("removed-from-the-config",),), {}, datetime(2026, 1, 1, tzinfo=UTC))


# ----------------------------------------------------------------------------- properties

Status = Literal["firing", "resolved"]
sequences = st.lists(st.tuples(st.sampled_from(["01" * 16, "02" * 16]),
                               st.sampled_from(["slack", "email"]),
                               st.sampled_from(["firing", "resolved"])), max_size=25)


def list_rule(statuses: list[str]) -> str | None:
    """The release rules over everything held, in order: what is sent (None: nothing)."""
    last = statuses[-1]
    if last == "firing" or "firing" not in statuses:
        return last
    return None


@pytest.mark.req("NFR-008", "FR-018")
@given(sequences)
def test_the_bounded_state_decides_as_the_whole_held_history_would(
        ops: list[tuple[str, str, Status]]) -> None:
    holds, log = Holds(), list[Record]()
    history: dict[tuple[str, str], list[str]] = {}
    for i, (fp, channel, status) in enumerate(ops):
        alert: Alert = make_alert(fp=fp, status=status, alert_id=f"a{i}")
        log += holds.hold(alert, channel, i, SILENCE)
        history.setdefault((fp, channel), []).append(status)
    for holds_now in (holds, restored(log)):
        out = holds_now.release(nothing_holds)
        got = {h.key: h.alert.status for h in out.send}
        assert got == {k: s for k, v in history.items() if (s := list_rule(v)) is not None}
        assert {h.key for h in out.dropped} == {k for k, v in history.items()
                                                 if list_rule(v) is None}
        assert len(holds_now) == 0


@pytest.mark.req("NFR-008", "FR-018", "FR-009")
def test_a_held_reminder_does_not_cancel_the_recovery_of_an_alert_paged_before_the_hold() -> None:
    holds = Holds()
    log = holds.hold(FIRING, "slack", 10, SILENCE, repeat=True)  # its page went out before
    log += holds.hold(RESOLVED, "slack", 20)
    assert sent(restored(log)) == [("resolved-1", "resolved", "slack")]
    only_reminder = Holds()
    only_reminder.hold(FIRING, "slack", 10, SILENCE, repeat=True)
    out = only_reminder.release(nothing_holds)
    assert [(h.alert, h.repeat) for h in out.send] == [(FIRING, True)]  # still firing: reminded
