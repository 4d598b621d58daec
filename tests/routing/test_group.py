"""Alert groups, pure (FR-027): one notification per group and channel, batched updates, one
resolution, reminders per group, acknowledgement, and the delivery-log records that bring it
all back after a restart."""

from __future__ import annotations

import pytest

from dq_monitor.channels.grouped import Kind, Notification
from dq_monitor.events import Alert
from dq_monitor.routing.group import (
    Groups,
    GroupSpec,
    decode,
    encode_key,
    group_key,
    valid_field,
)
from dq_monitor.routing.hold import Record
from dq_monitor.testing import make_alert

pytestmark = pytest.mark.req("FR-027")

SPEC = GroupSpec(route=0, channel="slack", group_by=("source",), wait=0.0, interval=60.0)
WINDOW = 300.0


def column(name: str, status: str = "firing", severity: str = "FAIL") -> Alert:
    """A completeness alert on one column of ``warehouse.orders``."""
    alert = make_alert(severity=severity, status=status, fp=name * 32)  # type: ignore[arg-type]
    return alert.model_copy(update={"subject": name})


A, B, C = "a", "b", "c"


def observe_all(groups: Groups, alerts: list[Alert], now: float,
                spec: GroupSpec = SPEC) -> list[Record]:
    records: list[Record] = []
    for alert in alerts:
        records += groups.observe(spec, alert, now)
    return records


def send(groups: Groups, now: float) -> list[Notification]:
    """Every due notification, accepted by its channel at ``now``."""
    notes = groups.due(now)
    for note in notes:
        groups.delivered(note, now)
    return notes


def subjects(note: Notification) -> list[tuple[str | None, str]]:
    return sorted((a.subject, a.status) for a in note.alerts)


def restored(groups: Groups) -> Groups:
    """What a restart (or the next owner) rebuilds from the delivery log."""
    again = Groups(WINDOW)
    again.load(groups.records())
    return again


def test_three_failing_columns_make_one_notification_and_one_resolution() -> None:
    groups = Groups(WINDOW)
    observe_all(groups, [column(A), column(B), column(C)], 0.0)
    (first,) = send(groups, 0.0)
    assert first.kind is Kind.FIRST and first.status == "firing"
    assert subjects(first) == [(A, "firing"), (B, "firing"), (C, "firing")]
    assert first.news == (A * 32, B * 32, C * 32)
    assert first.values == {"source": "warehouse.orders"}
    observe_all(groups, [column(A, "resolved"), column(B, "resolved"), column(C, "resolved")],
                10.0)
    assert groups.due(10.0) == []  # batched: the update waits for group_interval
    (resolved,) = send(groups, 60.0)
    assert resolved.kind is Kind.RESOLVED and resolved.status == "resolved"
    assert subjects(resolved) == [(A, "resolved"), (B, "resolved"), (C, "resolved")]
    assert len(groups) == 0 and send(groups, 1000.0) == []


def test_group_wait_gathers_the_alerts_of_a_new_group() -> None:
    groups = Groups(WINDOW)
    spec = GroupSpec(0, "slack", ("source",), wait=5.0, interval=60.0)
    groups.observe(spec, column(A), 0.0)
    assert groups.due(4.9) == [] and groups.next_due() == 5.0
    groups.observe(spec, column(B), 3.0)
    (first,) = send(groups, 5.0)
    assert subjects(first) == [(A, "firing"), (B, "firing")]


def test_an_update_lists_the_firing_alerts_and_what_resolved_since() -> None:
    groups = Groups(WINDOW)
    groups.observe(SPEC, column(A), 0.0)
    send(groups, 0.0)
    groups.observe(SPEC, column(B), 20.0)
    groups.observe(SPEC, column(A, "resolved"), 30.0)
    assert groups.due(59.0) == []
    (update,) = send(groups, 60.0)
    assert update.kind is Kind.UPDATE and update.status == "firing"
    assert subjects(update) == [(A, "resolved"), (B, "firing")]
    assert update.news == (B * 32,)
    assert update.wire()["group_key"] == update.group_key
    assert [a["status"] for a in update.wire()["alerts"]] == ["firing", "resolved"]


def test_a_repeated_alert_is_not_news() -> None:
    groups = Groups(WINDOW)
    groups.observe(SPEC, column(A), 0.0)
    send(groups, 0.0)
    groups.observe(SPEC, column(A), 5.0)
    assert groups.due(100.0) == []


def test_resolved_before_the_first_notification_sends_nothing() -> None:
    groups = Groups(WINDOW)
    spec = GroupSpec(0, "slack", ("source",), wait=30.0, interval=60.0)
    groups.observe(spec, column(A), 0.0)
    records = groups.observe(spec, column(A, "resolved"), 10.0)
    assert records == [(encode_key(group_key(spec, column(A))[0]), None)]
    assert send(groups, 100.0) == [] and len(groups) == 0


def test_groups_are_per_channel_and_per_group_by_values() -> None:
    groups = Groups(WINDOW)
    other = column(A).model_copy(update={"source": "warehouse.items", "fingerprint": "d" * 32})
    pager = GroupSpec(0, "pager", ("source",), 0.0, 60.0)
    observe_all(groups, [column(A), other], 0.0)
    groups.observe(pager, column(A), 0.0)
    notes = send(groups, 0.0)
    assert sorted((n.channel, n.values["source"]) for n in notes) == [
        ("pager", "warehouse.orders"), ("slack", "warehouse.items"),
        ("slack", "warehouse.orders")]
    assert len({n.group_key for n in notes}) == 3


def test_labels_and_absent_fields_group_too() -> None:
    spec = GroupSpec(0, "slack", ("owner", "labels.tier"), 0.0, 60.0)
    gold = column(A).model_copy(update={"labels": {"tier": "gold"}, "owner": "team-a"})
    key, values = group_key(spec, gold)
    assert values == {"owner": "team-a", "labels.tier": "gold"}
    assert group_key(spec, column(B))[1] == {"owner": "", "labels.tier": ""}
    assert group_key(spec, column(B))[0] != key
    assert valid_field("labels.tier") and valid_field("check")
    assert not valid_field("labels.") and not valid_field("subject")


def test_reminders_are_per_group_and_stop_when_acknowledged_until_an_escalation() -> None:
    groups = Groups(WINDOW)
    observe_all(groups, [column(A, severity="WARN"), column(B, severity="WARN")], 0.0)
    send(groups, 0.0)
    assert groups.due(WINDOW - 1) == [] and groups.next_due() == WINDOW
    (reminder,) = send(groups, WINDOW)
    assert reminder.kind is Kind.REMINDER and subjects(reminder) == [(A, "firing"), (B, "firing")]
    acked, records = groups.acknowledge(A * 32, "ana", "on it", WINDOW + 1)
    assert [g.ack.by for g in acked if g.ack] == ["ana"] and len(records) == 1
    assert groups.due(10 * WINDOW) == [] and groups.next_due() is None
    # the acknowledgement survives a restart
    groups = restored(groups)
    assert groups.due(10 * WINDOW) == []
    groups.observe(SPEC, column(B, severity="FAIL"), 10 * WINDOW)  # escalation: pages again
    (update,) = send(groups, 10 * WINDOW)
    assert update.kind is Kind.UPDATE and (B, "firing") in subjects(update)
    assert [n.kind for n in send(groups, 11 * WINDOW)] == [Kind.REMINDER]


def test_acknowledging_an_unknown_fingerprint_changes_nothing() -> None:
    groups = Groups(WINDOW)
    assert groups.acknowledge("f" * 32, "ana", "", 0.0) == ([], [])


def test_the_state_survives_a_restart_at_every_step() -> None:
    groups = Groups(WINDOW)
    observe_all(groups, [column(A), column(B)], 0.0)
    again = restored(groups)
    (first,) = send(again, 0.0)
    assert subjects(first) == [(A, "firing"), (B, "firing")]
    again.observe(SPEC, column(A, "resolved"), 5.0)
    again = restored(again)
    (update,) = send(again, 60.0)
    assert subjects(update) == [(A, "resolved"), (B, "firing")]
    again = restored(again)
    again.observe(SPEC, column(B, "resolved"), 70.0)
    (resolved,) = send(restored(again), 120.0)
    assert resolved.kind is Kind.RESOLVED and subjects(resolved) == [(B, "resolved")]


def test_a_notification_not_delivered_before_a_crash_is_sent_again() -> None:
    groups = Groups(WINDOW)
    groups.observe(SPEC, column(A), 0.0)
    (handed,) = groups.due(0.0)
    assert groups.due(0.0) == []  # not handed out twice while under way
    again = restored(groups)  # crash before the channel accepted it
    (again_note,) = again.due(0.0)
    assert again_note.kind is Kind.FIRST and subjects(again_note) == subjects(handed)
    groups.failed(handed)  # or the channel refused it for now: due at the next look
    assert [n.kind for n in groups.due(1.0)] == [Kind.FIRST]


def test_a_change_while_a_notification_is_under_way_goes_out_next() -> None:
    groups = Groups(WINDOW)
    groups.observe(SPEC, column(A), 0.0)
    (first,) = groups.due(0.0)
    groups.observe(SPEC, column(B), 0.5)
    groups.delivered(first, 1.0)
    assert groups.due(60.0) == []
    (update,) = send(groups, 61.0)
    assert subjects(update) == [(A, "firing"), (B, "firing")] and update.news == (B * 32,)


def test_an_alert_whose_group_by_values_change_moves_to_its_new_group() -> None:
    groups = Groups(WINDOW)
    spec = GroupSpec(0, "slack", ("severity",), 0.0, 60.0)
    groups.observe(spec, column(A, severity="WARN"), 0.0)
    send(groups, 0.0)
    groups.observe(spec, column(A, severity="FAIL"), 10.0)
    notes = {n.values["severity"]: n for n in send(groups, 60.0)}
    assert notes["FAIL"].kind is Kind.FIRST and subjects(notes["FAIL"]) == [(A, "firing")]
    assert notes["WARN"].kind is Kind.RESOLVED and subjects(notes["WARN"]) == [(A, "resolved")]
    assert len(groups) == 1


@pytest.mark.req("NFR-006")
@pytest.mark.parametrize("value", [b"{", b"[]", b'{"channel": 1}',
                                   b'{"channel": "s", "values": {}, "due": "x", "alerts": []}'])
def test_an_unreadable_group_record_is_refused(value: bytes) -> None:
    with pytest.raises(ValueError, match="bad group value"):
        decode(encode_key("k"), value)
