"""The router's decisions with no broker and no event loop: targets, steps, commit points."""

from __future__ import annotations

import pytest

from dq_monitor.config import Route
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.dispatch import (
    Pending,
    Step,
    next_step,
    reminder_interval,
    targets,
    undeliverable_alert,
)
from dq_monitor.testing import make_alert


def routes(*specs: dict[str, object]) -> list[Route]:
    return [Route.model_validate(s) for s in specs]


@pytest.mark.req("FR-007", "FR-021")
def test_resolved_goes_where_firing_went_as_far_as_status_admits() -> None:
    rs = routes({"match": {"status": "firing"}, "channels": ["pager"], "continue": True},
                {"match": {}, "channels": ["slack"], "continue": True},
                {"match": {"status": "resolved"}, "channels": ["recoveries"]})
    log = DeliveryLog(300)
    firing = make_alert()
    assert targets(rs, log, firing).channels == ["pager", "slack"]
    for channel in ("pager", "slack"):
        log.record(firing, channel, 0)
    got = targets(rs, log, make_alert(status="resolved"))
    assert got.channels == ["recoveries", "slack"] and not got.unseen_episode


@pytest.mark.req("FR-021")
def test_a_resolved_with_no_record_of_its_episode_follows_the_rules_and_is_flagged() -> None:
    rs = routes({"match": {"severity": "FAIL"}, "channels": ["slack"]})
    got = targets(rs, DeliveryLog(300), make_alert(status="resolved"))
    assert got.channels == ["slack"] and got.unseen_episode


@pytest.mark.req("FR-009")
def test_steps_send_skip_and_remind() -> None:
    log = DeliveryLog(60)
    a = make_alert()
    assert next_step(log, a, "slack", reminder=False, now=0) is Step.SEND
    log.record(a, "slack", 0)
    assert next_step(log, a, "slack", reminder=False, now=10) is Step.SKIP
    assert next_step(log, a, "slack", reminder=True, now=10) is Step.SKIP  # not due yet
    assert next_step(log, a, "slack", reminder=True, now=61) is Step.REMIND
    assert next_step(log, a, "slack", reminder=False, now=61) is Step.REMIND


@pytest.mark.req("FR-010", "NFR-004")
def test_commit_point_waits_for_the_oldest_open_record() -> None:
    p = Pending()
    p.read(5, 2)
    p.read(6, 0)  # routed nowhere: nothing to wait for
    p.read(7, 1)
    assert p.commit_point() == 5
    p.ended(5)
    p.ended(7)
    assert p.commit_point() == 5
    p.ended(5)
    assert p.commit_point() == 8


@pytest.mark.req("FR-010", "NFR-002", "NFR-008")
def test_a_channel_that_fell_behind_holds_the_commit_point_at_its_own_position() -> None:
    p = Pending()
    p.read(10, 2)  # both channels took it
    p.fall_behind("slow", 11)  # slow's queue was full at 11: fast goes on alone
    p.read(11, 1)
    p.read(12, 1)
    p.fall_behind("slow", 12)  # already behind: keeps its older position
    assert p.position("slow") == 11 and p.position("fast") is None
    for offset in (10, 10, 11, 12):
        p.ended(offset)
    assert p.commit_point() == 11  # fast is done with 12, slow has not read 11
    assert p.unread("slow") == 2 and p.unread("fast") == 0
    assert not p.rejoin("slow")
    p.took("slow", 11, 1)  # slow read 11 itself and queued it
    assert p.commit_point() == 11 and p.position("slow") == 12
    p.ended(11)
    assert p.commit_point() == 12
    p.took("slow", 12, 0)  # not for slow after all (a recovery it never got the firing of)
    assert p.commit_point() == 13 and p.unread("slow") == 0
    assert p.rejoin("slow") and p.position("slow") is None  # caught up: reads with fast again
    assert p.rejoin("fast")


@pytest.mark.req("FR-010")
def test_a_channel_behind_does_not_rejoin_while_records_it_has_not_read_arrive() -> None:
    p = Pending()
    p.read(0, 0)
    p.fall_behind("slow", 1)
    p.read(1, 0)
    p.took("slow", 1, 1)
    p.read(2, 0)  # read meanwhile by the main loop, not for slow yet
    assert not p.rejoin("slow") and p.commit_point() == 1
    p.ended(1)
    assert p.commit_point() == 2
    p.took("slow", 2, 0)
    assert p.rejoin("slow") and p.commit_point() == 3


@pytest.mark.req("FR-009")
def test_reminder_cadence_and_dead_letter_shape() -> None:
    assert [reminder_interval(w) for w in (1, 60, 3600)] == [0.5, 6.0, 30.0]
    record = undeliverable_alert(make_alert(), "mail", "refused", 1, recipients=["x@y"])
    assert {k: record[k] for k in ("kind", "channel", "reason", "attempts", "recipients")} == {
        "kind": "undeliverable_alert", "channel": "mail", "reason": "refused", "attempts": 1,
        "recipients": ["x@y"]}


@pytest.mark.req("FR-018")
def test_a_channel_is_held_only_while_every_route_choosing_it_is_muted() -> None:
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    from dq_monitor.routing.dispatch import held
    from dq_monitor.routing.mute import MuteWindow

    night = MuteWindow("night", frozenset(range(7)), ((time(1), time(3)),), ZoneInfo("UTC"))
    rs = routes({"match": {}, "channels": ["mail", "slack"], "mute": ["night"],
                 "continue": True},
                {"match": {"severity": "FAIL"}, "channels": ["slack"]})
    mutes = targets(rs, DeliveryLog(300), make_alert()).mutes
    at_two = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert held(mutes["mail"], {"night": night}, at_two)
    assert "slack" not in mutes  # also chosen by an unmuted route: never held
    assert not held(mutes["mail"], {"night": night}, at_two.replace(hour=4))


@pytest.mark.req("FR-025", "FR-010")
def test_a_channel_removed_by_a_reload_holds_no_commit_back() -> None:
    p = Pending()
    p.read(10, 1)
    p.fall_behind("gone", 11)
    p.read(11, 0)
    p.read(12, 0)
    p.ended(10)
    assert p.commit_point() == 11  # "gone" has not read 11 yet
    p.forget("gone")
    assert p.commit_point() == 13 and p.position("gone") is None and p.unread("gone") == 0
