"""The silence set folded from topic records: the topic's order decides, tombstones, unreadable
records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dq_monitor.silence import Silence, SilenceRequest, SilenceSet
from dq_monitor.silence.store import KEEP_EXPIRED
from dq_monitor.testing import make_alert

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
BEHIND = timedelta(minutes=10)


def silence(source: str = "warehouse.*", duration: str = "2h", now: datetime = NOW) -> Silence:
    return SilenceRequest(source=source, created_by="ana", comment="backfill",
                          duration=duration).create(now)


def fold(book: SilenceSet, records: list[tuple[int, Silence | str]],
         problems: list[str] | None = None) -> None:
    """Records of partition 0 in topic order: (offset, silence) or (offset, id) for a
    tombstone."""
    for offset, record in records:
        if isinstance(record, str):
            book.apply(record.encode(), None, (problems or []).append, at=(0, offset))
        else:
            book.apply(record.id.encode(), record.to_json(), (problems or []).append,
                       at=(0, offset))


@pytest.mark.req("NFR-008", "FR-018")
def test_the_last_record_in_the_topic_wins_whatever_the_writers_clocks_said() -> None:
    created = silence()
    # a second instance, its clock 10 minutes behind the creator's, expires it 5 minutes later
    ended = created.expire(NOW + timedelta(minutes=5) - BEHIND)
    assert ended.updated_at < created.updated_at  # by the clocks, the expiry is the older write
    for clock in (NOW, NOW + timedelta(minutes=5) - BEHIND, NOW + timedelta(hours=1)):
        book = SilenceSet()  # every instance, whatever its own clock, folds the same records
        fold(book, [(0, created), (1, ended)])
        assert book.get(created.id) == ended
        assert book.silencing(make_alert(), clock) == []
        assert [s.state_at(clock) for s in book.listing(clock, expired=True)] == ["expired"]
        assert book.listing(clock) == []


@pytest.mark.req("NFR-008", "FR-018")
def test_a_local_write_never_undoes_what_the_topic_already_said() -> None:
    created = silence()
    ended = created.expire(NOW + timedelta(minutes=5))
    book = SilenceSet()
    fold(book, [(0, created), (1, ended)])
    book.put(created, at=(0, 0))  # own write acknowledged at 0, applied after the tail read 1
    assert book.get(created.id) == ended
    book.forget(created.id, at=(0, 0))
    assert book.get(created.id) == ended

    ahead = SilenceSet()  # own write at 1 applied before the tail reads 0 and 1
    ahead.put(ended, at=(0, 1))
    fold(ahead, [(0, created)])
    assert ahead.get(created.id) == ended
    fold(ahead, [(1, ended)])
    assert ahead.get(created.id) == ended


@pytest.mark.req("NFR-008", "FR-018")
def test_tombstones_are_due_a_week_after_the_end_and_folding_them_forgets() -> None:
    ran_out = silence(duration="2h")  # ends 11:00
    expired = silence("sales.*", duration="48h").expire(NOW + timedelta(hours=1))
    active = silence("crm.*", duration="720h")
    book = SilenceSet()
    fold(book, [(0, ran_out), (1, expired), (2, active)])
    assert book.due_tombstones(NOW + timedelta(days=1)) == []
    week_after_expiry = NOW + timedelta(hours=1) + KEEP_EXPIRED
    assert book.due_tombstones(week_after_expiry) == []
    assert book.due_tombstones(week_after_expiry + timedelta(seconds=1)) == [expired.id]
    later = NOW + timedelta(hours=2) + KEEP_EXPIRED + timedelta(seconds=1)
    due = book.due_tombstones(later)
    assert sorted(due) == sorted([ran_out.id, expired.id])
    assert book.listing(later, expired=True) == [active]  # listed until due, not after
    # two instances notice and both write: the second tombstone changes nothing
    fold(book, [(3, ran_out.id), (4, expired.id), (5, ran_out.id)])
    assert len(book) == 1 and book.due_tombstones(later) == []
    assert book.silencing(make_alert(), later) == []


@pytest.mark.req("NFR-008", "FR-018")
def test_memory_stays_bounded_when_silences_come_and_go_for_months() -> None:
    book = SilenceSet()
    offset = 0
    for day in range(120):
        now = NOW + timedelta(days=day)
        for source in ("a.*", "b.*", "c.*"):
            fold(book, [(offset, silence(source, "1h", now))])
            offset += 1
        for silence_id in book.due_tombstones(now):
            book.forget(silence_id, at=(0, offset))
            offset += 1
    assert len(book) <= 3 * 9


@pytest.mark.req("FR-018", "NFR-006")
def test_an_unreadable_record_is_reported_and_the_others_still_hold() -> None:
    good = silence()
    book, problems = SilenceSet(), list[str]()
    book.apply(b"x", b"{not json", problems.append)
    book.apply(b"y", b'{"id": "y"}', problems.append)
    book.apply(None, good.to_json(), problems.append)
    book.apply(b"z", good.to_json(), problems.append)  # keyed by another id
    beyond = good.model_dump(mode="json") | {"ends_at": "9000-01-01T01:00:00Z"}
    book.apply(good.id.encode(), orjson.dumps(beyond), problems.append)  # as older versions could
    book.apply(good.id.encode(), good.to_json(), problems.append)
    assert len(problems) == 5
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
