"""Silences as plain data: matching, states over time, early expiry, request validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from dq_monitor.silence import Silence, SilenceRequest
from dq_monitor.testing import make_alert

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def request(**fields: object) -> SilenceRequest:
    return SilenceRequest.model_validate(
        {"created_by": "ana", "comment": "backfill", "duration": "2h", **fields})


@pytest.mark.req("FR-018")
@pytest.mark.parametrize(("matchers", "silenced"), [
    ({"source": "warehouse.*"}, True),
    ({"source": "warehouse.*", "check": "completeness"}, True),
    ({"source": "warehouse.*", "check": "freshness"}, False),
    ({"source": "sales.*"}, False),
    ({"subject": "customer_*", "severity": "FAIL"}, True),
    ({"subject": "customer_*", "severity": "WARN"}, False),
    ({"source": "WAREHOUSE.*"}, False),  # globs are case-sensitive, like source names
])
def test_every_given_matcher_must_match(matchers: dict[str, str], silenced: bool) -> None:
    silence = request(**matchers).create(NOW)
    assert silence.silences(make_alert(), NOW + timedelta(minutes=1)) is silenced


@pytest.mark.req("FR-018")
def test_a_silence_holds_from_its_start_until_its_end_and_then_expires_by_itself() -> None:
    silence = request(source="warehouse.*",
                      starts_at="2026-12-03T10:00:00Z").create(NOW)
    alert = make_alert()
    assert silence.state_at(NOW) == "pending" and not silence.silences(alert, NOW)
    at = datetime(2026, 12, 3, 11, 59, tzinfo=UTC)
    assert silence.state_at(at) == "active" and silence.silences(alert, at)
    end = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert silence.ends_at == end
    assert silence.state_at(end) == "expired" and not silence.silences(alert, end)


@pytest.mark.req("FR-018")
def test_expiring_early_ends_it_at_that_moment_and_expiring_again_changes_nothing() -> None:
    silence = request(source="warehouse.*").create(NOW)
    later = NOW + timedelta(minutes=5)
    ended = silence.expire(later)
    assert ended.ends_at == later and ended.updated_at == later and ended.id == silence.id
    assert ended.state_at(later) == "expired"
    assert ended.expire(later + timedelta(minutes=1)) is ended


@pytest.mark.req("NFR-008", "FR-018")
@pytest.mark.parametrize("skew", [timedelta(minutes=-10), timedelta(0), timedelta(minutes=10),
                                  timedelta(hours=3)])
def test_an_expired_silence_is_expired_by_every_clock_whatever_the_expiring_one_said(
        skew: timedelta) -> None:
    """The instance asked to expire has its clock off by ``skew``; every other instance (any
    clock) must see the silence expired as soon as it reads the record, as the answer says."""
    silence = request(source="warehouse.*").create(NOW)  # 09:00 to 11:00 by the creator's clock
    ended = silence.expire(NOW + timedelta(minutes=30) + skew)
    alert = make_alert()
    for clock in (NOW, NOW + timedelta(minutes=20), NOW + timedelta(minutes=40),
                  NOW + timedelta(hours=1, minutes=59)):
        assert ended.state_at(clock) == "expired"
        assert not ended.silences(alert, clock)
    assert ended.starts_at <= ended.ends_at <= silence.ends_at


@pytest.mark.req("NFR-008", "FR-018", "NFR-006")
@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"duration": "99999999999h"}, "duration", "at most 8784h"),
    ({"duration": "8785h"}, "duration", "at most 8784h"),
    ({"duration": "0s"}, "duration", "longer than 0s"),
    ({"starts_at": "8999-12-31T23:00:00Z", "duration": "2h"}, "duration",
     "9000-01-01T00:00:00.000Z"),
    ({"starts_at": "9000-01-02T00:00:00Z"}, "starts_at", "outside the accepted range"),
    ({"duration": None, "ends_at": "9999-01-01T00:00:00Z"}, "ends_at",
     "outside the accepted range"),
    ({"duration": None, "starts_at": "2026-12-03T10:00:00Z", "ends_at": "2028-01-01T00:00:00Z"},
     "", "at most 8784h"),
])
def test_a_request_out_of_bounds_is_a_validation_error_naming_the_field(
        fields: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        request(source="a", **fields)
    [error] = info.value.errors()
    assert ".".join(map(str, error["loc"])) == field and reason in error["msg"]


@pytest.mark.req("NFR-008", "NFR-006")
@pytest.mark.parametrize("fields", [
    {"duration": "8784h"},
    {"starts_at": "8999-12-31T21:00:00Z", "duration": "2h"},
    {"duration": None, "starts_at": "8999-12-31T12:00:00Z", "ends_at": "8999-12-31T23:59:59Z"},
])
def test_every_silence_a_request_may_create_reads_back(fields: dict[str, object]) -> None:
    silence = request(source="a", **fields).create(NOW)
    assert Silence.model_validate_json(silence.to_json()) == silence
    ended = silence.expire(NOW + timedelta(minutes=1))
    assert Silence.model_validate_json(ended.to_json()) == ended


@pytest.mark.req("FR-018")
@pytest.mark.parametrize(("fields", "reason"), [
    ({}, "at least one of source, check, subject, severity"),
    ({"source": "a", "ends_at": "2026-12-03T12:00:00Z"}, "exactly one of ends_at and duration"),
    ({"source": "a", "duration": "soon"}, "invalid duration"),
    ({"source": "a", "check": "volume"}, "check"),
    ({"source": "a", "created_by": ""}, "created_by"),
    ({"source": "a", "comment": ""}, "comment"),
    ({"source": "a", "severity": "INFO"}, "severity"),
    ({"source": "a", "mystery": 1}, "mystery"),
])
def test_bad_requests_are_refused_naming_the_field(fields: dict[str, object],
                                                   reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        request(**fields)


@pytest.mark.req("FR-018")
@pytest.mark.parametrize(("fields", "reason"), [
    ({"duration": None, "ends_at": "2026-12-03T08:00:00Z"}, "in the past"),
    ({"duration": None, "starts_at": "2026-12-03T10:00:00Z",
      "ends_at": "2026-12-03T09:30:00Z"}, "after starts_at"),
    ({"duration": "9000h"}, r"at most 8784h \(366 days\)"),
])
def test_a_silence_that_could_never_hold_or_would_hold_forever_is_refused(
        fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        request(source="a", **fields).create(NOW)
