"""The throttle that keeps a broker outage to one log line per problem per interval."""

from __future__ import annotations

import logging

import pytest

from dq_monitor.logs import Throttle


def record(msg: str, at: float, name: str = "aiokafka") -> logging.LogRecord:
    r = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)
    r.created = at
    return r


@pytest.mark.req("NFR-007", "NFR-004")
def test_repeats_are_held_back_and_counted_then_let_through() -> None:
    t = Throttle(interval=30)
    unable = "Unable connect to node with id %s: %s"
    assert t.filter(record(unable, 0.0))
    assert not any(t.filter(record(unable, at)) for at in (0.05, 0.1, 29.9))
    assert t.filter(record("Unable to update metadata from %s", 1.0))  # another problem
    later = record(unable, 31.0)
    assert t.filter(later)
    assert later.msg == f"{unable} (3 more like this in the last 30s)"
