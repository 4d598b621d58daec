"""Silences as plain data: matching, states over time, early expiry, request validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from dq_monitor.silence import SilenceRequest
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
    ended = silence.expired_at(later)
    assert ended.ends_at == later and ended.updated_at == later and ended.id == silence.id
    assert ended.state_at(later) == "expired"
    assert ended.expired_at(later + timedelta(minutes=1)) is ended


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
    ({"duration": "9000h"}, "at most 366 days"),
])
def test_a_silence_that_could_never_hold_or_would_hold_forever_is_refused(
        fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        request(source="a", **fields).create(NOW)
