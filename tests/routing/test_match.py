"""FR-007 routing: ordered routes, match fields, continue, the spec's example."""

from __future__ import annotations

import pytest

from dq_monitor.config import Route
from dq_monitor.routing.match import route_channels
from dq_monitor.testing import make_alert


def routes(*raw: dict[str, object]) -> list[Route]:
    return [Route.model_validate(r) for r in raw]


SPEC = routes({"match": {"severity": "WARN"}, "channels": ["slack-dq"]},
              {"match": {"severity": "FAIL"}, "channels": ["slack-dq", "oncall-email"]})


@pytest.mark.req("FR-007")
def test_spec_routes_warn_to_slack_and_fail_to_slack_and_email() -> None:
    assert route_channels(SPEC, make_alert(severity="WARN")) == ["slack-dq"]
    assert route_channels(SPEC, make_alert(severity="FAIL")) == ["slack-dq", "oncall-email"]


@pytest.mark.req("FR-007")
def test_first_match_wins_unless_continue_and_no_channel_twice() -> None:
    rs = routes(
        {"match": {"source": "warehouse.*", "check": ["completeness"]}, "channels": ["dq"],
         "continue": True},
        {"match": {"status": "firing"}, "channels": ["pager", "dq", "pager"]},
        {"match": {}, "channels": ["never-after-a-stop"]},
    )
    assert route_channels(rs, make_alert()) == ["dq", "pager"]
    assert route_channels(rs, make_alert(status="resolved")) == ["dq", "never-after-a-stop"]


@pytest.mark.req("FR-007")
@pytest.mark.parametrize(("match", "routed"), [
    ({"source": "lake.*"}, False),
    ({"source": "warehouse.order?"}, True),
    ({"source": "Warehouse.*"}, False),  # globs are case-sensitive, like source names
    ({"severity": ["WARN", "FAIL"], "check": "completeness"}, True),
    ({"severity": "WARN", "check": "completeness"}, False),  # every field must match
    ({"check": ["freshness", "anomaly"]}, False),
    ({}, True),
])
def test_match_fields(match: dict[str, object], routed: bool) -> None:
    got = route_channels(routes({"match": match, "channels": ["x"]}), make_alert())
    assert got == (["x"] if routed else [])


@pytest.mark.req("FR-007")
def test_no_routes_means_the_alert_topic_only() -> None:
    assert route_channels([], make_alert()) == []
