"""Inhibition, pure (FR-027): rules from the config, lineage-aware inhibition of the sources
downstream of a stale one, and the blast radius an upstream notification names."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from dq_monitor.config import InhibitRule
from dq_monitor.events import Alert
from dq_monitor.routing.inhibit import Inhibitor, Lineage, blast_radius
from dq_monitor.testing import make_alert

pytestmark = pytest.mark.req("FR-027")


def alert(source: str, check: str, status: str = "firing", **extra: Any) -> Alert:
    fp = hashlib.sha256(f"{source}/{check}".encode()).hexdigest()[:32]
    return make_alert(status=status).model_copy(  # type: ignore[arg-type]
        update={"source": source, "check": check, "fingerprint": fp, **extra})


RULE = InhibitRule.model_validate({
    "source": {"check": "freshness", "severity": "FAIL"},
    "target": {"check": ["anomaly", "completeness", "threshold"]},
    "equal": ["source"]})
#: raw.orders → staging.orders → marts.revenue; raw.orders → marts.customers
GRAPH = {"staging.orders": ["raw.orders"], "marts.revenue": ["staging.orders"],
         "marts.customers": ["raw.orders"]}


def test_a_rule_holds_an_anomaly_alert_while_its_sources_freshness_fail_fires() -> None:
    inhibitor = Inhibitor([RULE], downstream=False)
    stale = alert("warehouse.orders", "freshness")
    anomaly = alert("warehouse.orders", "anomaly")
    assert inhibitor.inhibited_by(anomaly) is None
    inhibitor.observe(stale)
    by = inhibitor.inhibited_by(anomaly)
    assert by is not None and by.fingerprint == stale.fingerprint and by.by == "rule 0"
    assert by.wire()["source"] == "warehouse.orders"
    # equal: another source's anomaly is not held; the freshness alert never holds itself
    assert inhibitor.inhibited_by(alert("warehouse.items", "anomaly")) is None
    assert inhibitor.inhibited_by(stale) is None
    inhibitor.observe(alert("warehouse.orders", "freshness", "resolved"))
    assert inhibitor.inhibited_by(anomaly) is None


def test_a_rule_needs_its_source_match_to_hold() -> None:
    inhibitor = Inhibitor([RULE], downstream=False)
    inhibitor.observe(alert("warehouse.orders", "freshness", severity="WARN"))
    assert inhibitor.inhibited_by(alert("warehouse.orders", "anomaly")) is None


def test_equal_on_a_label_compares_the_label() -> None:
    rule = InhibitRule.model_validate({"source": {"check": "run"}, "target": {},
                                       "equal": ["labels.team"]})
    inhibitor = Inhibitor([rule], downstream=False)
    inhibitor.observe(alert("a", "run", labels={"team": "x"}))
    assert inhibitor.inhibited_by(alert("b", "anomaly", labels={"team": "x"})) is not None
    assert inhibitor.inhibited_by(alert("b", "anomaly", labels={"team": "y"})) is None


def test_a_stale_source_inhibits_everything_downstream_transitively() -> None:
    inhibitor = Inhibitor(lineage=Lineage(GRAPH))
    root = alert("raw.orders", "freshness")
    inhibitor.observe(root)
    for source in ("staging.orders", "marts.revenue", "marts.customers"):
        by = inhibitor.inhibited_by(alert(source, "freshness"))
        assert by is not None and by.fingerprint == root.fingerprint and by.by == "lineage"
    assert inhibitor.inhibited_by(alert("raw.orders", "anomaly")) is None  # not downstream
    assert inhibitor.inhibited_by(alert("elsewhere", "freshness")) is None
    inhibitor.observe(alert("raw.orders", "freshness", "resolved"))
    assert inhibitor.inhibited_by(alert("marts.revenue", "freshness")) is None


def test_a_failed_run_inhibits_downstream_and_other_checks_do_not() -> None:
    inhibitor = Inhibitor(lineage=Lineage(GRAPH))
    inhibitor.observe(alert("raw.orders", "anomaly"))
    assert inhibitor.inhibited_by(alert("marts.revenue", "freshness")) is None
    inhibitor.observe(alert("staging.orders", "run"))
    assert inhibitor.inhibited_by(alert("marts.revenue", "freshness")) is not None


def test_lineage_inhibition_can_be_turned_off() -> None:
    inhibitor = Inhibitor(lineage=Lineage(GRAPH), downstream=False)
    inhibitor.observe(alert("raw.orders", "freshness"))
    assert inhibitor.inhibited_by(alert("marts.revenue", "freshness")) is None


def test_a_cycle_in_the_lineage_never_silences_the_whole_incident() -> None:
    inhibitor = Inhibitor(lineage=Lineage({"a": ["b"], "b": ["a"], "c": ["b"]}))
    a, b = alert("a", "freshness"), alert("b", "freshness")
    inhibitor.observe(a)
    inhibitor.observe(b)
    assert inhibitor.inhibited_by(a) is None and inhibitor.inhibited_by(b) is None
    assert inhibitor.inhibited_by(alert("c", "freshness")) is not None


def test_the_blast_radius_names_every_downstream_source() -> None:
    lineage = Lineage.merged(GRAPH, {"marts.revenue": ["raw.payments"]})
    assert blast_radius(lineage, "raw.orders") == (
        "3 downstream: marts.customers, marts.revenue, staging.orders")
    assert blast_radius(lineage, "raw.payments") == "1 downstream: marts.revenue"
    assert blast_radius(lineage, "marts.revenue") is None
    wide = Lineage({f"t{i:02}": ["root"] for i in range(12)})
    assert blast_radius(wide, "root") == (
        "12 downstream: t00, t01, t02, t03, t04, t05, t06, t07, t08, t09 and 2 more")


@pytest.mark.parametrize("field", ["subject", "labels.", "detail"])
def test_an_unknown_equal_field_is_a_config_error(field: str) -> None:
    with pytest.raises(ValueError, match="unknown field"):
        InhibitRule.model_validate({"source": {}, "target": {}, "equal": [field]})
