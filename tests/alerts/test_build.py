"""Alert events as the spec defines them: fingerprint, figures, requirement and detail sentence."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.alerts.build import build_alert
from dq_monitor.alerts.fingerprint import fingerprint
from dq_monitor.alerts.machine import AlertMachine, Transition
from dq_monitor.checks.verdict import Severity, Verdict
from dq_monitor.config import Damping
from dq_monitor.events import Alert

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
SPEC_FIELDS = {
    "alert_id", "fingerprint", "check", "source", "subject", "severity", "status", "observed",
    "expected", "detail", "requirement", "event_time", "detected_at",
}


def null_rate(severity: Severity, rate: float) -> Verdict:
    return Verdict("completeness", "warehouse.orders", "customer_id", severity, rate, 0.01,
                   f"warehouse.orders.customer_id null rate {rate:.2%} vs limit 1.00%")


# ---------------------------------------------------------------------------- fingerprint


@pytest.mark.req("FR-006")
def test_fingerprint_is_pinned_to_its_documented_encoding() -> None:
    # v1 encoding: b"dqfp1", then each field as N (None) or S<utf-8 length>:<bytes>
    by_hand = hashlib.sha256(b"dqfp1S9:freshnessS16:warehouse.ordersN").hexdigest()[:32]
    assert fingerprint("freshness", "warehouse.orders", None) == by_hand
    assert by_hand == "4ae13d5bb312b1e27aa0f345ed5ac917"
    assert fingerprint("completeness", "warehouse.orders", "customer_id") == (
        "2858e4c13db04fc9e17a9a6595d7e7d5")


@pytest.mark.req("FR-006")
def test_fingerprint_is_the_same_in_another_process() -> None:
    code = (
        "from dq_monitor.alerts.fingerprint import fingerprint;"
        "print(fingerprint('anomaly', 'warehouse.orders', 'revenue{region=eu}'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == fingerprint("anomaly", "warehouse.orders",
                                                "revenue{region=eu}")


@pytest.mark.req("FR-006")
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("completeness", "orders", None), ("completeness", "orders", "")),
        (("completeness", "orders", None), ("completeness", "orders", "None")),
        (("anomaly", "ab", "c"), ("anomaly", "a", "bc")),
        (("anomaly", "a|b", None), ("anomaly", "a", "b")),
        (("anomaly", "aS1:b", None), ("anomaly", "a", "b")),
        (("freshness", "orders", None), ("completeness", "orders", None)),
        (("anomaly", "x", "y"), ("anomaly", "y", "x")),
    ],
)
def test_different_subjects_get_different_fingerprints(
    a: tuple[str, str, str | None], b: tuple[str, str, str | None]
) -> None:
    assert fingerprint(*a) != fingerprint(*b)


names = st.text(max_size=12)


@pytest.mark.req("FR-006")
@given(st.tuples(names, names, st.none() | names), st.tuples(names, names, st.none() | names))
def test_fingerprints_are_32_hex_digits_and_differ_whenever_the_triple_does(
    a: tuple[str, str, str | None], b: tuple[str, str, str | None]
) -> None:
    fa = fingerprint(*a)
    assert len(fa) == 32 and all(c in "0123456789abcdef" for c in fa)
    assert (fa == fingerprint(*b)) == (a == b)


# ---------------------------------------------------------------------------- alert events


@pytest.mark.req("FR-006")
def test_firing_alert_carries_the_spec_fields() -> None:
    cause = null_rate(Severity.FAIL, 0.05)
    t = Transition("firing", Severity.FAIL, cause, T0)
    alert = build_alert(t, event_time=T0, detected_at=T0 + timedelta(seconds=1))
    assert uuid.UUID(alert.alert_id).version == 5
    assert alert.fingerprint == fingerprint("completeness", "warehouse.orders", "customer_id")
    assert (alert.check, alert.source, alert.subject) == (
        "completeness", "warehouse.orders", "customer_id")
    assert (alert.severity, alert.status, alert.requirement) == ("FAIL", "firing", "FR-004")
    assert (alert.observed, alert.expected) == (0.05, 0.01)
    assert alert.detail == cause.detail
    wire = orjson.loads(alert.to_json())
    assert set(wire) == SPEC_FIELDS
    assert wire["event_time"] == "2026-06-26T12:00:00.000Z"
    assert wire["detected_at"] == "2026-06-26T12:00:01.000Z"
    assert Alert.from_json(alert.to_json()) == alert


@pytest.mark.req("FR-006")
def test_alert_ids_name_the_transition_unless_given() -> None:
    t = Transition("firing", Severity.WARN, null_rate(Severity.WARN, 0.009), T0)
    a = build_alert(t, event_time=T0, detected_at=T0)
    replayed = build_alert(t, event_time=T0, detected_at=T0 + timedelta(seconds=30))
    assert a.alert_id == replayed.alert_id  # the same transition re-created after a crash
    later = build_alert(t, event_time=T0 + timedelta(minutes=5), detected_at=T0)
    fail = build_alert(Transition("firing", Severity.FAIL, null_rate(Severity.FAIL, 0.2), T0),
                       event_time=T0, detected_at=T0)
    assert len({a.alert_id, later.alert_id, fail.alert_id}) == 3
    assert a.fingerprint == later.fingerprint == fail.fingerprint
    given_id = "7f1c1f0e-0000-4000-8000-000000000001"
    assert build_alert(t, event_time=T0, detected_at=T0, alert_id=given_id).alert_id == given_id


@pytest.mark.req("FR-006")
def test_requirement_follows_the_check() -> None:
    stale = Verdict("freshness", "warehouse.orders", None, Severity.FAIL, 5400.0, 3600.0,
                    "warehouse.orders is stale")
    alert = build_alert(Transition("firing", Severity.FAIL, stale, T0), event_time=T0,
                        detected_at=T0)
    assert (alert.requirement, alert.subject) == ("FR-003", None)
    assert alert.fingerprint == fingerprint("freshness", "warehouse.orders", None)


@pytest.mark.req("FR-006")
def test_resolved_alert_shows_the_healthy_figures_and_the_severity_that_fired() -> None:
    m = AlertMachine(Damping())
    m.observe(null_rate(Severity.FAIL, 0.05), T0)
    t = m.observe(null_rate(Severity.OK, 0.001), T0 + timedelta(minutes=3))
    assert t is not None
    alert = build_alert(t, event_time=T0, detected_at=T0)
    assert (alert.status, alert.severity) == ("resolved", "FAIL")
    assert (alert.observed, alert.expected) == (0.001, 0.01)
    assert alert.detail == "Resolved: warehouse.orders.customer_id null rate 0.10% vs limit 1.00%"


@pytest.mark.req("FR-015")
def test_flap_hold_is_written_into_the_detail() -> None:
    m = AlertMachine(Damping.model_validate({"max_flaps": 3, "flap_window": "10m"}))
    alerts = []
    for i in range(6):
        severity, rate = (Severity.FAIL, 0.05) if i % 2 == 0 else (Severity.OK, 0.0)
        t = m.observe(null_rate(severity, rate), T0 + timedelta(seconds=30 * i))
        if t is not None:
            alerts.append(build_alert(t, event_time=T0, detected_at=T0))
    assert [(a.status, a.severity) for a in alerts] == [
        ("firing", "FAIL"), ("resolved", "FAIL"), ("firing", "FAIL"), ("firing", "FAIL")]
    assert not any("flapping" in a.detail for a in alerts[:3])
    held = alerts[3]
    assert held.detail.startswith("Condition cleared, but the FAIL alert is held: ")
    assert held.detail.endswith("(flapping: 4 state changes in 10m; held firing)")


@pytest.mark.req("FR-015")
@pytest.mark.parametrize(
    ("window", "text"), [(600.0, "10m"), (3600.0, "1h"), (90.0, "90s"), (0.5, "500ms")]
)
def test_flapping_escalation_names_the_window_as_configured(window: float, text: str) -> None:
    t = Transition("firing", Severity.FAIL, null_rate(Severity.FAIL, 0.05), T0, flapping=True,
                   flips=5, flap_window=window)
    detail = build_alert(t, event_time=T0, detected_at=T0).detail
    assert detail == (
        "warehouse.orders.customer_id null rate 5.00% vs limit 1.00% "
        f"(flapping: 5 state changes in {text}; held firing)"
    )


def test_a_transition_needs_an_alerting_severity() -> None:
    t = Transition("firing", Severity.OK, null_rate(Severity.OK, 0.0), T0)
    with pytest.raises(ValueError, match=r"completeness alert for warehouse\.orders"):
        build_alert(t, event_time=T0, detected_at=T0)
