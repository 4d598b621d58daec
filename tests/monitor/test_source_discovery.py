"""FR-024 sources at platform scale in the core: a ``match`` entry discovers sources from their
first event, with their own state, checkpoints and cap; every alert carries its source's owner,
labels and runbook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.config import Config, parse_config
from dq_monitor.errors import ConfigError
from dq_monitor.events import Metric, TableUpdate
from dq_monitor.monitor import Monitor, Outcome

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)

CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: shop.main.orders
    owner: team-orders
    freshness: {max_staleness: 10m}
  - match: "shop.main.*"
    max_sources: 3
    owner: team-shop
    labels: {tier: gold, domain: sales}
    runbook_url: https://runbooks.example.com/shop
    description: Tables of the shop
    upstream: [raw.shop]
    freshness: {max_staleness: 10m}
    completeness: {min_row_count: 1}
  - match: "shop.*"
    owner: team-rest
    completeness: {min_row_count: 1}
"""


def config(text: str = CONFIG) -> Config:
    return parse_config(text, env={})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def update(source: str, t: float, rows: int = 10) -> TableUpdate:
    return TableUpdate(type="table_update", source=source, updated_at=at(t), row_count=rows)


def feed(m: Monitor, ev: TableUpdate | Metric, t: float) -> Outcome:
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


@pytest.mark.req("FR-024")
def test_a_pattern_monitors_sources_from_their_first_event_with_owner_labels_and_runbook() -> None:
    m = Monitor(config())
    m.assign([0], T0)
    assert set(m.sources) == {"shop.main.orders"}  # a pattern names nothing before it appears
    out = feed(m, update("shop.main.payments", 0, rows=0), 0)
    [alert] = [e.alert for e in out.alerts]
    assert (alert.check, alert.severity, alert.source) == ("completeness", "FAIL",
                                                           "shop.main.payments")
    assert alert.owner == "team-shop"
    assert alert.labels == {"tier": "gold", "domain": "sales"}
    assert alert.runbook_url == "https://runbooks.example.com/shop"
    wire = alert.wire()
    assert wire["owner"] == "team-shop" and wire["labels"]["tier"] == "gold"
    # its freshness clock started at its first event
    assert m.sources["shop.main.payments"].watching_since == at(0)


@pytest.mark.req("FR-024")
def test_an_exact_name_wins_then_the_first_matching_pattern_in_order() -> None:
    m = Monitor(config())
    m.assign([0], T0)
    feed(m, update("shop.main.orders", 0), 0)
    feed(m, update("shop.main.items", 0), 0)
    feed(m, update("shop.web.clicks", 0, rows=0), 0)
    assert m.sources["shop.main.orders"].config.owner == "team-orders"
    assert m.sources["shop.main.orders"].config.completeness is None
    assert m.sources["shop.main.items"].config.owner == "team-shop"
    assert m.sources["shop.web.clicks"].config.owner == "team-rest"
    out = feed(m, update("elsewhere.table", 0), 0)
    assert not out.alerts and "elsewhere.table" not in m.sources
    assert m.stats["events.unknown_source"] == 1


@pytest.mark.req("FR-024")
def test_past_max_sources_a_new_source_is_dead_lettered_source_cap_exceeded() -> None:
    m = Monitor(config())
    m.assign([0], T0)
    for name in ("shop.main.a", "shop.main.b", "shop.main.c"):
        assert not feed(m, update(name, 0), 0).dead_letters
    out = feed(m, update("shop.main.d", 1), 1)
    [dead] = out.dead_letters
    assert dead["kind"] == "source_cap_exceeded"
    assert dead["source"] == "shop.main.d" and dead["match"] == "shop.main.*"
    assert dead["max_sources"] == 3
    assert "shop.main.d" not in m.sources
    # known ones go on; a revoked partition frees the room
    assert not feed(m, update("shop.main.a", 2), 2).dead_letters
    m.revoke([0])
    m.assign([0], at(3))
    assert not feed(m, update("shop.main.d", 3), 3).dead_letters


@pytest.mark.req("FR-024", "FR-012")
def test_a_discovered_source_is_checkpointed_and_restored_with_its_alert() -> None:
    m = Monitor(config())
    m.assign([0], T0)
    feed(m, update("shop.main.payments", 0, rows=0), 0)
    records = m.take_dirty()
    assert any("shop.main.payments" in key for _, key, _ in records)
    again = Monitor(config())
    for partition, key, value in records:
        again.restore(partition, key, value, at(5))
    again.assign([0], at(5))
    src = again.sources["shop.main.payments"]
    assert src.config.owner == "team-shop" and src.watches
    # the restored alert resolves by the next healthy update, and carries the owner
    out = feed(again, update("shop.main.payments", 10, rows=5), 10)
    [alert] = [e.alert for e in out.alerts]
    assert (alert.status, alert.owner) == ("resolved", "team-shop")
    # its freshness deadline was armed at the restore
    fired = []
    while (w := again.next_wakeup()) is not None and w <= at(700):
        fired += [e.alert for e in again.on_tick(w).alerts]
    assert any(a.check == "freshness" and a.source == "shop.main.payments" for a in fired)


@pytest.mark.req("FR-024", "FR-011")
@pytest.mark.parametrize(("entry", "error"), [
    ("{freshness: {max_staleness: 1m}}",
     "sources[0]: give exactly one of name (a source) or match (a glob of source names)"),
    ("{name: a, match: 'a*'}",
     "sources[0]: give exactly one of name (a source) or match (a glob of source names)"),
    ("{name: a, max_sources: 3}",
     "sources[0].max_sources: only an entry with match discovers sources"),
    ("{match: 'a*', runbook_url: 'javascript:alert(1)'}", "sources[0].runbook_url: String"),
    ("{match: 'a*', max_sources: 0}", "sources[0].max_sources: Input should be greater"),
])
def test_invalid_source_entries_are_refused_by_path(entry: str, error: str) -> None:
    text = ("kafka: {bootstrap_servers: 'x:1', input_topics: [in], alert_topic: a, "
            f"dead_letter_topic: d}}\nsources:\n  - {entry}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert any(e.startswith(error) for e in info.value.errors), info.value.errors


@pytest.mark.req("FR-024", "FR-011")
def test_a_pattern_given_twice_is_refused() -> None:
    text = ("kafka: {bootstrap_servers: 'x:1', input_topics: [in], alert_topic: a, "
            "dead_letter_topic: d}\nsources:\n  - {match: 'a*'}\n  - {match: 'a*'}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert info.value.errors == ("sources[1].match: duplicate pattern 'a*' (also sources[0])",)


@pytest.mark.req("FR-024", "FR-013")
def test_a_copied_config_looks_sources_up_in_its_own_list() -> None:
    cfg = config()
    assert cfg.catalog.lookup("shop.web.x") is not None and "shop.main.orders" in (
        cfg.sources_by_name)
    only = cfg.model_copy(update={"sources": [cfg.sources[1]]})
    assert only.catalog.lookup("shop.web.x") is None
    assert only.sources_by_name == {}
    assert only.catalog.lookup("shop.main.x") is not None
