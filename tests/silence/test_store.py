"""The silence set folded from topic records: newest wins, tombstones, unreadable records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.silence import Silence, SilenceRequest, SilenceSet
from dq_monitor.testing import make_alert

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def silence(source: str = "warehouse.*", duration: str = "2h") -> Silence:
    return SilenceRequest(source=source, created_by="ana", comment="backfill",
                          duration=duration).create(NOW)


@pytest.mark.req("FR-018")
def test_records_fold_into_the_current_silences_and_an_older_write_never_wins() -> None:
    s = silence()
    ended = s.expired_at(NOW + timedelta(minutes=10))
    book, problems = SilenceSet(), list[str]()
    book.apply(s.id.encode(), ended.to_json(), problems.append)
    book.apply(s.id.encode(), s.to_json(), problems.append)  # older, read after the newer
    assert book.get(s.id) == ended and problems == []
    assert book.silencing(make_alert(), NOW + timedelta(minutes=11)) == []
    book.apply(s.id.encode(), None, problems.append)  # tombstone
    assert len(book) == 0


@pytest.mark.req("FR-018", "NFR-006")
def test_an_unreadable_record_is_reported_and_the_others_still_hold() -> None:
    good = silence()
    book, problems = SilenceSet(), list[str]()
    book.apply(b"x", b"{not json", problems.append)
    book.apply(b"y", b'{"id": "y"}', problems.append)
    book.apply(None, good.to_json(), problems.append)
    book.apply(good.id.encode(), good.to_json(), problems.append)
    assert len(problems) == 3
    assert book.silencing(make_alert(), NOW) == [good]


@pytest.mark.req("FR-018")
def test_listing_shows_pending_and_active_and_recent_expired_ones_on_request() -> None:
    book = SilenceSet()
    active, other = silence(), silence("sales.*", "10m")
    for s in (active, other):
        book.put(s)
    later = NOW + timedelta(minutes=30)
    assert book.listing(later) == [active]
    assert {s.id for s in book.listing(later, expired=True)} == {active.id, other.id}
    assert book.listing(NOW + timedelta(days=9), expired=True) == []
