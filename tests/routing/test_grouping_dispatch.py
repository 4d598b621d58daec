"""Which channels group an alert and how (FR-027), the re-keying records of the groups topic,
and lineage learned from the changelog; pure, no broker."""

from __future__ import annotations

import orjson
import pytest

from dq_monitor.config import RoutingConfig
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.dispatch import Grouping, targets
from dq_monitor.routing.group import GroupSpec, decode_member, encode_member, group_key
from dq_monitor.routing.inhibit import LearnedLineage
from dq_monitor.testing import make_alert

pytestmark = pytest.mark.req("FR-027")

ROUTING = RoutingConfig.model_validate({
    "group_by": ["source"], "group_wait": "2s", "group_interval": "30s",
    "routes": [
        {"match": {"severity": "FAIL"}, "channels": ["pager", "kafka-out"], "continue": True,
         "group_by": ["owner"], "group_interval": "5m"},
        {"channels": ["slack"]},
    ]})
GROUPING = Grouping(ROUTING, frozenset({"pager", "slack"}))


def test_each_channel_groups_by_its_route_and_ungroupable_channels_get_every_alert() -> None:
    got = targets(ROUTING.routes, DeliveryLog(300), make_alert(), GROUPING)
    assert got.channels == ["pager", "kafka-out", "slack"]
    assert got.groups == {
        "pager": GroupSpec(0, "pager", ("owner",), 2.0, 300.0),
        "slack": GroupSpec(1, "slack", ("source",), 2.0, 30.0)}
    assert targets(ROUTING.routes, DeliveryLog(300), make_alert()).groups == {}


def test_a_recovery_reaches_the_grouped_channels_whatever_the_log_holds() -> None:
    log = DeliveryLog(300)
    firing = make_alert()
    log.record(firing, "kafka-out", 0)  # delivered on its own there; grouped elsewhere
    got = targets(ROUTING.routes, log, make_alert(status="resolved"), GROUPING)
    assert sorted(got.channels) == ["kafka-out", "pager", "slack"]


def test_an_empty_group_by_on_a_route_turns_grouping_off_for_it() -> None:
    routing = RoutingConfig.model_validate({
        "group_by": ["source"], "routes": [{"channels": ["slack"], "group_by": []}]})
    got = targets(routing.routes, DeliveryLog(300), make_alert(),
                  Grouping(routing, frozenset({"slack"})))
    assert got.groups == {}


def test_a_member_record_is_keyed_by_its_group_and_reads_back() -> None:
    spec = GroupSpec(1, "slack", ("source", "labels.tier"), 0.0, 60.0)
    alert = make_alert()
    key, value = encode_member(spec, alert, 12.5)
    assert key == group_key(spec, alert)[0].encode()
    assert decode_member(value) == (spec, alert, 12.5)


@pytest.mark.req("NFR-006")
@pytest.mark.parametrize("value", [
    None, b"x", b"[]", b'{"route": true}',
    orjson.dumps({"route": 0, "channel": "s", "group_by": ["subject"], "wait": 0,
                  "interval": 1, "alert": {}}),
    orjson.dumps({"route": 0, "channel": "s", "group_by": [], "wait": 0, "interval": 0,
                  "alert": make_alert().wire()})])
def test_an_unreadable_member_record_is_refused(value: bytes | None) -> None:
    with pytest.raises(ValueError, match="bad group member record"):
        decode_member(value)


def test_lineage_is_learned_from_the_changelogs_source_records() -> None:
    learned = LearnedLineage()
    up = [["shop.raw.orders", "dbt/revenue", "2026-06-26T11:58:00Z"]]
    learned.apply(b"src\x1fshop.main.revenue", orjson.dumps({"upstream": up}))
    learned.apply(b"ser\x1fshop.main.revenue\x1frow_count", orjson.dumps({"upstream": up}))
    learned.apply(b"src\x1fbroken", b"not json")
    assert learned.graph() == {"shop.main.revenue": frozenset({"shop.raw.orders"})}
    version = learned.version
    learned.apply(b"src\x1fshop.main.revenue", orjson.dumps({"upstream": up}))
    assert learned.version == version  # nothing changed
    learned.apply(b"src\x1fshop.main.revenue", None)  # the source's state was deleted
    assert learned.graph() == {} and learned.version == version + 1
