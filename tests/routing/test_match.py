"""FR-007 routing: ordered routes, match fields, continue, the spec's example."""

from __future__ import annotations

import pytest

from dq_monitor.config import Route
from dq_monitor.routing.match import route_channels
from tests.channels.conftest import make_alert


def routes(*raw: dict[str, object]) -> list[Route]:
    return [Route.model_validate(r) for r in raw]


SPEC = routes({"match": {"severity": "WARN"}, "channels": ["slack-dq"]},
              {"match": {"severity": "FAIL"}, "channels": ["slack-dq", "oncall-email"]})


@pytest.mark.req("FR-007")
def test_spec_routes_warn_to_slack_and_fail_to_slack_and_email() -> None:
    assert route_channels(SPEC, make_alert(severity="WARN")) == ["slack-dq"]
    assert route_channels(SPEC, make_alert(severity="FAIL")) == ["slack-dq", "oncall-email"]


@pytest.mark.req("FR-007")
def test_first_match_wins_unless_continue() -> None:
    rs = routes(
        {"match": {"source": "warehouse.*", "check": ["completeness"]}, "channels": ["dq"],
         "continue": True},
        {"match": {"status": "firing"}, "channels": ["pager", "dq"]},
        {"match": {}, "channels": ["never"]},
    )
    assert route_channels(rs, make_alert()) == ["dq", "pager"]
    assert route_channels(rs, make_alert(status="resolved")) == ["dq", "never"]
    assert route_channels(routes({"match": {"source": "lake.*"}, "channels": ["x"]}),
                          make_alert()) == []
