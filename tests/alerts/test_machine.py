"""The alert state machine: FR-006 transitions and FR-015 damping, on instants passed in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.alerts.machine import AlertMachine, AlertStateError, Transition
from dq_monitor.checks.verdict import Severity, Verdict
from dq_monitor.config import Damping

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
OFF = Damping()

PENDING, OK, WARN, FAIL = Severity.PENDING, Severity.OK, Severity.WARN, Severity.FAIL


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def verdict(severity: Severity, observed: float | None = None) -> Verdict:
    return Verdict("completeness", "orders", "customer_id", severity, observed, 0.1,
                   f"null rate is {severity.value}")


def damping(**options: object) -> Damping:
    return Damping.model_validate(options)


Step = tuple[float, Severity]
Seen = tuple[float, str, Severity, bool]


def run(machine: AlertMachine, steps: Sequence[Step]) -> list[Seen]:
    """Observe each (seconds, severity); return (seconds, status, severity, flapping) emitted."""
    out: list[Seen] = []
    for t, severity in steps:
        tr = machine.observe(verdict(severity), at(t))
        if tr is not None:
            out.append((t, tr.status, tr.severity, tr.flapping))
    return out


def toggling(start: float, stop: float, every: float = 30, first: Severity = FAIL) -> list[Step]:
    """FAIL / OK alternating every ``every`` seconds from ``start`` up to ``stop`` (exclusive)."""
    steps: list[Step] = []
    t, bad = start, first is FAIL
    while t < stop:
        steps.append((t, FAIL if bad else OK))
        bad, t = not bad, t + every
    return steps


# ---------------------------------------------------------------------------- FR-006 transitions


@pytest.mark.req("FR-006")
def test_warn_fires_from_ok_with_the_causing_verdict() -> None:
    m = AlertMachine(OFF)
    assert m.observe(verdict(OK), at(0)) is None
    cause = verdict(WARN, 0.09)
    tr = m.observe(cause, at(5))
    assert tr == Transition("firing", WARN, cause, at(5))
    assert m.firing is WARN


@pytest.mark.req("FR-006")
def test_fail_fires_directly_from_ok() -> None:
    assert run(AlertMachine(OFF), [(0, OK), (1, FAIL)]) == [(1, "firing", FAIL, False)]


@pytest.mark.req("FR-006")
def test_escalation_from_warn_to_fail_fires_fail() -> None:
    seen = run(AlertMachine(OFF), [(0, WARN), (10, FAIL)])
    assert seen == [(0, "firing", WARN, False), (10, "firing", FAIL, False)]


@pytest.mark.req("FR-006")
def test_deescalation_keeps_fail_firing_until_the_condition_clears() -> None:
    m = AlertMachine(OFF)
    seen = run(m, [(0, FAIL), (10, WARN), (20, WARN)])
    assert seen == [(0, "firing", FAIL, False)]
    assert m.firing is FAIL
    # a return to FAIL is not re-announced; the recovery carries FAIL, the severity paged
    assert run(m, [(30, FAIL), (40, WARN), (50, OK)]) == [(50, "resolved", FAIL, False)]


@pytest.mark.req("FR-006")
@pytest.mark.parametrize("severity", [WARN, FAIL])
def test_recovery_resolves_with_the_severity_that_was_firing(severity: Severity) -> None:
    m = AlertMachine(OFF)
    run(m, [(0, severity)])
    healthy = verdict(OK, 0.0)
    tr = m.observe(healthy, at(7))
    assert tr == Transition("resolved", severity, healthy, at(7))
    assert m.firing is None
    assert m.idle


@pytest.mark.req("FR-006")
def test_resolved_after_escalation_carries_fail() -> None:
    seen = run(AlertMachine(OFF), [(0, WARN), (1, FAIL), (2, OK)])
    assert seen[-1] == (2, "resolved", FAIL, False)


@pytest.mark.req("FR-006")
def test_repeating_the_firing_severity_is_silent() -> None:
    m = AlertMachine(OFF)
    assert run(m, [(t, WARN) for t in range(0, 300, 30)]) == [(0, "firing", WARN, False)]
    assert run(m, [(300, OK), (330, OK), (360, OK)]) == [(300, "resolved", WARN, False)]


@pytest.mark.req("FR-006")
def test_pending_changes_nothing() -> None:
    m = AlertMachine(OFF)
    assert m.observe(verdict(PENDING), at(0)) is None
    assert m.idle
    run(m, [(1, FAIL)])
    before = m.to_state()
    assert m.observe(verdict(PENDING), at(2)) is None
    assert m.to_state() == before
    assert m.firing is FAIL


@pytest.mark.req("FR-006")
def test_a_new_incident_after_recovery_fires_again() -> None:
    seen = run(AlertMachine(OFF), [(0, WARN), (1, OK), (2, OK), (3, FAIL)])
    assert [s[1:3] for s in seen] == [("firing", WARN), ("resolved", WARN), ("firing", FAIL)]


# ---------------------------------------------------------------------------- FR-015: for


@pytest.mark.req("FR-015")
def test_for_fires_only_once_the_condition_has_held() -> None:
    m = AlertMachine(damping(**{"for": "60s"}))
    assert m.observe(verdict(FAIL), at(0)) is None
    assert m.next_due(at(0)) == at(60)
    assert m.observe(verdict(FAIL), at(30)) is None
    assert m.next_due(at(30)) == at(60)
    cause = verdict(FAIL, 0.5)
    assert m.observe(cause, at(60)) == Transition("firing", FAIL, cause, at(0))
    assert m.next_due(at(60)) is None


@pytest.mark.req("FR-015")
def test_for_condition_cleared_before_due_emits_nothing() -> None:
    m = AlertMachine(damping(**{"for": "60s"}))
    assert run(m, [(0, FAIL), (30, OK), (45, FAIL), (90, OK), (200, OK)]) == []
    assert m.next_due(at(200)) is None
    assert m.idle


@pytest.mark.req("FR-015")
def test_for_restarts_after_a_break() -> None:
    m = AlertMachine(damping(**{"for": "60s"}))
    run(m, [(0, FAIL), (30, OK), (45, FAIL)])
    assert m.next_due(at(45)) == at(105)
    assert run(m, [(100, FAIL), (105, FAIL)]) == [(105, "firing", FAIL, False)]


@pytest.mark.req("FR-015")
def test_for_counts_warn_and_fail_together_for_warn() -> None:
    # >= WARN held for 60s fires WARN even though the severity moved between WARN and FAIL
    m = AlertMachine(damping(**{"for": "60s"}))
    assert run(m, [(0, WARN), (20, FAIL), (40, WARN), (60, WARN)]) == [(60, "firing", WARN, False)]


@pytest.mark.req("FR-015")
def test_escalation_waits_for_measured_from_when_fail_began() -> None:
    m = AlertMachine(damping(**{"for": "60s"}))
    assert run(m, [(0, WARN), (30, FAIL)]) == []
    assert m.next_due(at(30)) == at(60)
    tr = m.observe(verdict(FAIL), at(60))
    assert tr is not None and (tr.status, tr.severity, tr.since) == ("firing", WARN, at(0))
    assert m.next_due(at(60)) == at(90)
    tr = m.observe(verdict(FAIL), at(90))
    assert tr is not None and (tr.status, tr.severity, tr.since) == ("firing", FAIL, at(30))


@pytest.mark.req("FR-015")
def test_held_long_enough_fires_the_highest_ready_severity() -> None:
    # the first evaluation after a long gap fires FAIL at once, without a WARN first
    m = AlertMachine(damping(**{"for": "60s"}))
    assert run(m, [(0, FAIL), (120, FAIL)]) == [(120, "firing", FAIL, False)]


@pytest.mark.req("FR-015")
def test_pending_does_not_break_the_for_timer() -> None:
    m = AlertMachine(damping(**{"for": "60s"}))
    assert run(m, [(0, FAIL), (30, PENDING), (60, FAIL)]) == [(60, "firing", FAIL, False)]


@pytest.mark.req("FR-015")
def test_fractional_for_is_reached_exactly_at_next_due() -> None:
    m = AlertMachine(damping(**{"for": "0.1s"}))
    start = at(0.3)
    assert m.observe(verdict(FAIL), start) is None
    due = m.next_due(start)
    assert due is not None and due > start
    assert m.observe(verdict(FAIL), due) is not None


# ---------------------------------------------------------------------------- FR-015: resolve_after


@pytest.mark.req("FR-015")
def test_resolve_after_waits_for_the_condition_to_stay_clear() -> None:
    m = AlertMachine(damping(resolve_after="60s"))
    run(m, [(0, FAIL)])
    assert m.observe(verdict(OK), at(10)) is None
    assert m.next_due(at(10)) == at(70)
    assert m.observe(verdict(OK), at(40)) is None
    tr = m.observe(verdict(OK), at(70))
    assert tr is not None and (tr.status, tr.severity, tr.since) == ("resolved", FAIL, at(10))
    assert m.next_due(at(70)) is None


@pytest.mark.req("FR-015")
def test_resolve_after_restarts_when_the_condition_returns() -> None:
    m = AlertMachine(damping(resolve_after="60s"))
    assert run(m, [(0, WARN), (10, OK), (30, WARN), (50, OK), (100, OK)]) == [
        (0, "firing", WARN, False)
    ]
    assert m.next_due(at(100)) == at(110)
    assert run(m, [(110, OK)]) == [(110, "resolved", WARN, False)]


@pytest.mark.req("FR-015")
def test_resolve_after_zero_resolves_on_the_first_ok() -> None:
    m = AlertMachine(damping(resolve_after="0s"))
    assert run(m, [(0, FAIL), (1, OK)]) == [
        (0, "firing", FAIL, False), (1, "resolved", FAIL, False)]


@pytest.mark.req("FR-015")
def test_next_due_is_none_when_nothing_is_pending() -> None:
    m = AlertMachine(damping(**{"for": "30s"}, resolve_after="30s"))
    assert m.next_due(at(0)) is None
    run(m, [(0, FAIL), (30, FAIL)])
    assert m.firing is FAIL
    assert m.next_due(at(30)) is None  # firing at the top severity with the condition present


# ---------------------------------------------------------------------------- FR-015: flapping

FLAPPY = {"max_flaps": 3, "flap_window": "10m"}


@pytest.mark.req("FR-015")
def test_toggling_condition_emits_at_most_max_flaps_then_holds_firing() -> None:
    m = AlertMachine(damping(**FLAPPY))
    seen = run(m, toggling(0, 330))  # FAIL at 0, 60, ..., 300; OK at 30, 90, ..., 270
    assert seen == [
        (0, "firing", FAIL, False),
        (30, "resolved", FAIL, False),
        (60, "firing", FAIL, False),
        (90, "firing", FAIL, True),  # the resolve that would be flip 4 is held, and announced
    ]
    assert m.firing is FAIL and m.flapping


@pytest.mark.req("FR-015")
def test_flap_hold_is_announced_with_the_count_and_window() -> None:
    m = AlertMachine(damping(**FLAPPY))
    run(m, toggling(0, 90))
    tr = m.observe(verdict(OK), at(90))
    assert tr is not None
    assert (tr.status, tr.severity, tr.flapping, tr.flips, tr.flap_window) == (
        "firing", FAIL, True, 4, 600.0)
    assert tr.verdict.severity is OK


@pytest.mark.req("FR-015")
def test_held_alert_resolves_once_the_flip_rate_falls_and_the_condition_is_clear() -> None:
    m = AlertMachine(damping(**FLAPPY))
    run(m, toggling(0, 330))
    # calm from 330 on: flips were at 0, 30 and 60, so the first leaves the window at 600
    assert run(m, [(t, OK) for t in range(330, 600, 30)]) == []
    assert m.next_due(at(570)) == at(600)
    assert run(m, [(600, OK)]) == [(600, "resolved", FAIL, False)]
    assert not m.flapping


@pytest.mark.req("FR-015")
def test_held_alert_whose_condition_persists_stays_firing_silently() -> None:
    m = AlertMachine(damping(**FLAPPY))
    run(m, toggling(0, 120))
    assert run(m, [(t, FAIL) for t in range(120, 900, 30)]) == []
    assert m.firing is FAIL
    assert not m.flapping  # the rate has fallen; a later recovery resolves normally
    assert run(m, [(900, OK)]) == [(900, "resolved", FAIL, False)]


@pytest.mark.req("FR-015")
def test_firing_is_never_held_back_but_is_marked_flapping_and_held() -> None:
    m = AlertMachine(damping(max_flaps=2, flap_window="10m"))
    seen = run(m, [(0, WARN), (30, OK), (60, WARN), (90, FAIL), (120, OK)])
    assert seen == [
        (0, "firing", WARN, False),
        (30, "resolved", WARN, False),
        (60, "firing", WARN, True),  # flip 3 of at most 2: still a new incident, so it fires
        (90, "firing", FAIL, True),  # an escalation while held carries the mark too
    ]
    assert m.firing is FAIL and m.flapping
    # flips at 0, 30 and 60: a resolve fits once two of them have left the window
    assert m.next_due(at(120)) == at(630)
    assert run(m, [(600, OK), (630, OK)]) == [(630, "resolved", FAIL, False)]


@pytest.mark.req("FR-015")
def test_flips_outside_the_window_do_not_count() -> None:
    m = AlertMachine(damping(**FLAPPY))
    seen = run(m, toggling(0, 3000, every=300))
    assert len(seen) == 10
    assert not any(flapping for *_, flapping in seen)
    assert [s[1] for s in seen] == ["firing", "resolved"] * 5


@pytest.mark.req("FR-015")
def test_damping_off_lets_every_flip_through() -> None:
    seen = run(AlertMachine(OFF), toggling(0, 600))
    assert len(seen) == 20
    assert not any(flapping for *_, flapping in seen)


@pytest.mark.req("FR-015")
def test_flip_history_keeps_a_calm_machine_until_it_leaves_the_window() -> None:
    m = AlertMachine(damping(**FLAPPY))
    run(m, [(0, FAIL), (30, OK)])
    assert m.firing is None and not m.idle
    run(m, [(599, OK)])
    assert not m.idle
    run(m, [(630, OK)])
    assert m.idle


# ---------------------------------------------------------------------------- checkpoints


@pytest.mark.req("FR-015", "FR-016")
def test_state_round_trips_through_json_mid_flap_hold() -> None:
    d = damping(**FLAPPY)
    m = AlertMachine(d)
    run(m, toggling(0, 240))
    assert m.flapping
    state = json.loads(json.dumps(m.to_state()))
    restored = AlertMachine.from_state(state, d)
    assert restored.to_state() == m.to_state()
    assert restored.firing is m.firing and restored.flapping == m.flapping
    assert restored.next_due(at(240)) == m.next_due(at(240)) == at(600)
    rest = [(t, OK) for t in range(240, 700, 30)]
    assert run(restored, rest) == run(m, rest) == [(600, "resolved", FAIL, False)]


@pytest.mark.req("FR-015")
def test_restoring_under_damping_turned_off_drops_the_flap_hold() -> None:
    m = AlertMachine(damping(**FLAPPY))
    run(m, toggling(0, 120))
    assert m.flapping
    restored = AlertMachine.from_state(m.to_state(), OFF)
    assert not restored.flapping
    assert run(restored, [(120, OK)]) == [(120, "resolved", FAIL, False)]


@pytest.mark.req("FR-016")
@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"v": 99}, "v"),
        ({"v": 1, "firing": "LOUD"}, "firing"),
        ({"v": 1, "warn_since": "yesterday"}, "warn_since"),
        ({"v": 1, "fail_since": "2026-06-26T12:00:00"}, "fail_since"),
        ({"v": 1, "flips": "often"}, "flips"),
    ],
)
def test_corrupt_state_is_rejected_naming_the_field(state: dict[str, object], field: str) -> None:
    with pytest.raises(AlertStateError, match=f"{field}:"):
        AlertMachine.from_state(state, damping(**FLAPPY))


# ---------------------------------------------------------------------------- properties

severities = st.sampled_from([PENDING, OK, WARN, FAIL])
gaps = st.integers(min_value=0, max_value=240)
sequences = st.lists(st.tuples(gaps, severities), max_size=60)
dampings = st.builds(
    lambda f, r, n, w: damping(**{"for": f"{f}s"}, resolve_after=f"{r}s", max_flaps=n,
                               flap_window=f"{w}s"),
    st.sampled_from([0, 30, 60, 90]),
    st.sampled_from([0, 30, 90]),
    st.sampled_from([None, 1, 2, 3]),
    st.sampled_from([60, 300, 600]),
)


def timeline(seq: list[tuple[int, Severity]]) -> list[Step]:
    steps: list[Step] = []
    t = 0
    for gap, severity in seq:
        t += gap
        steps.append((t, severity))
    return steps


def check_sequence(seen: list[Seen]) -> None:
    """Emitted events make sense as a story: firing first, resolves match the last firing."""
    firing: Severity | None = None
    for _, status, severity, flapping in seen:
        if status == "resolved":
            assert firing is not None, "a resolved must follow a firing"
            assert severity is firing, "a resolved carries the severity that was firing"
            firing = None
        else:
            assert severity in (WARN, FAIL)
            if firing is not None:
                # only an escalation, or the announcement of a flap hold, repeats "firing"
                assert (firing, severity) == (WARN, FAIL) or (flapping and severity is firing)
            firing = severity


@pytest.mark.req("FR-006")
@given(sequences)
def test_damping_off_follows_the_plain_transition_rules(seq: list[tuple[int, Severity]]) -> None:
    m = AlertMachine(OFF)
    firing: Severity | None = None
    seen: list[Seen] = []
    for t, severity in timeline(seq):
        tr = m.observe(verdict(severity), at(t))
        expected: tuple[str, Severity] | None = None
        if severity is OK and firing is not None:
            expected, firing = ("resolved", firing), None
        elif severity.firing and (firing is None or (firing, severity) == (WARN, FAIL)):
            expected, firing = ("firing", severity), severity
        assert (None if tr is None else (tr.status, tr.severity)) == expected
        if tr is not None:
            assert not tr.flapping
            seen.append((t, tr.status, tr.severity, tr.flapping))
        assert m.next_due(at(t)) is None
    check_sequence(seen)


@pytest.mark.req("FR-006", "FR-015")
@settings(max_examples=200)
@given(dampings, sequences)
def test_any_damping_tells_a_consistent_story(
    d: Damping, seq: list[tuple[int, Severity]]
) -> None:
    m = AlertMachine(d)
    seen: list[Seen] = []
    flips: list[float] = []
    for t, severity in timeline(seq):
        tr = m.observe(verdict(severity), at(t))
        if tr is not None:
            seen.append((t, tr.status, tr.severity, tr.flapping))
            if tr.status == "resolved" or not seen[:-1] or seen[-2][1] == "resolved":
                flips.append(t)
        # re-observing the same verdict at the same instant is never news
        assert m.observe(verdict(severity), at(t)) is None
        due = m.next_due(at(t))
        if severity is not PENDING:
            assert due is None or due > at(t)
    check_sequence(seen)
    if d.max_flaps is not None:
        # a resolve never exceeds the limit; a new firing may, by one, and is then held
        for i, t in enumerate(flips):
            in_window = [u for u in flips[: i + 1] if t - u < d.flap_window]
            assert len(in_window) <= d.max_flaps + 1


@pytest.mark.req("FR-015")
@settings(max_examples=200)
@given(dampings, sequences, st.data())
def test_waking_at_next_due_applies_the_pending_timer(
    d: Damping, seq: list[tuple[int, Severity]], data: st.DataObject
) -> None:
    """Re-observing the last verdict at ``next_due`` always changes what is pending."""
    m = AlertMachine(d)
    steps = timeline(seq)
    last: Step | None = None
    for t, severity in steps:
        m.observe(verdict(severity), at(t))
        if severity is not PENDING:
            last = (t, severity)
    if last is None:
        return
    now = at(last[0])
    due = m.next_due(now)
    if due is None:
        return
    before = m.to_state()
    m.observe(verdict(last[1]), due - timedelta(microseconds=1))
    assert m.next_due(due - timedelta(microseconds=1)) == due  # the timer never completes early
    tr = m.observe(verdict(last[1]), due)
    assert tr is not None or m.to_state() != before


@pytest.mark.req("FR-015", "FR-016")
@settings(max_examples=200)
@given(dampings, sequences, st.integers(min_value=0, max_value=60))
def test_restoring_a_checkpoint_anywhere_changes_nothing(
    d: Damping, seq: list[tuple[int, Severity]], split: int
) -> None:
    steps = timeline(seq)
    head, tail = steps[:split], steps[split:]
    m = AlertMachine(d)
    run(m, head)
    restored = AlertMachine.from_state(json.loads(json.dumps(m.to_state())), d)
    assert run(restored, tail) == run(m, tail)


@pytest.mark.req("NFR-008", "FR-006")
def test_retiring_a_subject_resolves_what_fires_at_once_and_leaves_the_machine_idle() -> None:
    gone = verdict(OK)
    held = AlertMachine(damping(resolve_after="10m", max_flaps=1, flap_window="1h"))
    # clear for resolve_after, but one flip already: the resolve is held (flapping)
    assert run(held, [(0, FAIL), (10, OK), (700, OK)]) == [
        (0, "firing", FAIL, False), (700, "firing", FAIL, True)]
    t = held.retire(gone, at(720))
    assert t is not None and (t.status, t.severity, t.verdict, t.since, t.flapping) == (
        "resolved", FAIL, gone, at(720), False)
    assert held.idle and held.firing is None and held.next_due(at(720)) is None
    pending = AlertMachine(damping(**{"for": "10m"}))
    assert run(pending, [(0, WARN)]) == []
    assert pending.retire(gone, at(5)) is None and pending.idle
