"""A channel's backlog and its falling-behind episodes with no event loop (NFR-002, FR-010)."""

from __future__ import annotations

import pytest

from dq_monitor.routing.backlog import Change, ChannelBacklog


@pytest.mark.req("NFR-002")
def test_the_oldest_undelivered_alert_counts_queued_jobs_and_records_not_read_yet() -> None:
    b = ChannelBacklog()
    assert b.oldest() is None and b.count() == 0
    first, second = b.add(100.0), b.add(101.0)
    assert b.count() == 2 and b.oldest() == 100.0
    b.unread_from(3, 99.5)  # behind on partition 3 since an alert triggered at 99.5
    assert b.oldest() == 99.5 and b.count(unread=40) == 42
    b.unread_from(3, None)
    b.end(first)
    assert b.oldest() == 101.0
    b.end(second)
    assert b.oldest() is None and b.count() == 0


@pytest.mark.req("NFR-002", "FR-010")
def test_one_warning_per_episode_and_it_ends_only_once_the_queue_has_room() -> None:
    b = ChannelBacklog()
    seen = []
    states = [  # (behind, queued, backlog)
        (False, 900, 900), (True, 1000, 1200), (True, 1000, 3000), (True, 1000, 2500),
        (False, 990, 990),  # reads with the others again, but its queue is still full
        (True, 1000, 1100),  # so falling behind again is the same episode
        (False, 600, 600), (False, 500, 500), (False, 10, 10), (True, 1000, 1001),
    ]
    for t, (behind, queued, backlog) in enumerate(states):
        change = b.observe(behind=behind, queued=queued, capacity=1000, backlog=backlog,
                           now=float(t))
        if change is not None:
            seen.append((t, change.change, change.lasted, change.peak))
    assert seen == [(1, Change.FELL_BEHIND, 0.0, 0), (7, Change.CAUGHT_UP, 6.0, 3000),
                    (9, Change.FELL_BEHIND, 0.0, 0)]


@pytest.mark.req("NFR-002", "FR-009")
def test_the_oldest_is_exact_whatever_order_jobs_come_and_go_in() -> None:
    b = ChannelBacklog()
    tokens = {t: b.add(t) for t in (105.0, 100.0, 103.0, 100.0)}  # a reminder, a catch-up...
    assert b.oldest() == 100.0
    b.end(tokens[100.0])  # one of the two jobs triggered at 100 ended
    assert b.oldest() == 100.0
    b.end(2)  # the other one (tokens count from 1 in order of adding)
    assert b.oldest() == 103.0 and b.count() == 2
    b.end(tokens[103.0])
    b.end(tokens[105.0])
    assert b.oldest() is None and b.count() == 0
