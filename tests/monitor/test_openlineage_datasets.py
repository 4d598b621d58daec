"""OpenLineage RunEvents through the sans-I/O core: the spec's mapping and the ``run``,
``assertion`` and ``schema`` checks (FR-022, FR-023)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dq_monitor.config import Config, parse_config
from dq_monitor.events import TableUpdate
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.monitor import Monitor, Outcome
from tests.openlineage_events import T0, dataset, raw, run_event

CONFIG = """
kafka: {bootstrap_servers: "x:9092", input_topics: [in], alert_topic: a,
        dead_letter_topic: d, openlineage_topics: [ol]}
sources:
  - name: shop.main.orders
    freshness: {max_staleness: 1h}
    completeness: {columns: {customer_id: {max_null_rate: 0.01}}}
  - name: shop.main.customers
  - name: quiet
    run: false
    assertions: false
    schema: {on_change: ignore}
"""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(text: str = CONFIG) -> tuple[Monitor, Config]:
    cfg = parse_config(text, env={})
    m = Monitor(cfg)
    m.assign([0], at(0))
    return m, cfg


def send(m: Monitor, cfg: Config, event: dict[str, object], t: float) -> Outcome:
    out = Outcome()
    for obs in OpenLineageFormat(cfg).decode(raw(event), 1 << 20):
        m.on_dataset(obs, 0, at(t), at(t), out)
    return out


def alerts(out: Outcome) -> list[tuple[str, str, str | None, str, str]]:
    return [(e.alert.check, e.alert.source, e.alert.subject, e.alert.severity, e.alert.status)
            for e in out.alerts]


@pytest.mark.req("FR-022")
def test_a_complete_run_updates_its_outputs_with_counts_from_the_facets() -> None:
    m, cfg = started()
    out = send(m, cfg, run_event("COMPLETE", 10, outputs=[dataset(
        "shop.main.orders", rows=1000, nulls={"customer_id": 50})]), 10)
    assert alerts(out) == [("completeness", "shop.main.orders", "customer_id", "FAIL", "firing")]
    assert m.sources["shop.main.orders"].last_updated == at(10)
    assert out.alerts[0].alert.labels == {"namespace": "duckdb://shop"}
    assert out.alerts[0].alert.requirement == "FR-004"
    # outputStatistics.rowCount wins over dataQualityMetrics.rowCount; nulls still counted.
    out = send(m, cfg, run_event("COMPLETE", 20, outputs=[dataset(
        "shop.main.orders", rows=1000, stats_rows=100_000, nulls={"customer_id": 50})]), 20)
    assert alerts(out) == [("completeness", "shop.main.orders", "customer_id", "FAIL",
                            "resolved")]


@pytest.mark.req("FR-022")
def test_input_side_quality_metrics_feed_completeness_but_not_freshness() -> None:
    m, cfg = started()
    out = send(m, cfg, run_event("COMPLETE", 10, job="ge.validate", inputs=[dataset(
        "shop.main.orders", rows=100, nulls={"customer_id": 30}, input_side=True)]), 10)
    assert alerts(out) == [("completeness", "shop.main.orders", "customer_id", "FAIL", "firing")]
    assert m.sources["shop.main.orders"].last_updated is None


@pytest.mark.req("FR-022")
@pytest.mark.parametrize("kind", ["START", "RUNNING", "OTHER"])
def test_start_running_and_other_update_nothing(kind: str) -> None:
    m, cfg = started()
    out = send(m, cfg, run_event(kind, 10, outputs=[dataset(
        "shop.main.orders", rows=10, nulls={"customer_id": 9},
        schema=[("id", "INTEGER")])]), 10)
    assert out.alerts == []
    src = m.sources["shop.main.orders"]
    assert src.last_updated is None and src.schema is None
    assert m.stats["events.openlineage.dataset"] == 1


@pytest.mark.req("FR-022")
def test_namespace_name_naming_and_unconfigured_datasets() -> None:
    text = CONFIG.replace("name: shop.main.orders", "name: duckdb://shop/shop.main.orders")
    m, cfg = started(text + "openlineage: {source_name: namespace_name}\n")
    send(m, cfg, run_event("COMPLETE", 10, outputs=[dataset("shop.main.orders"),
                                                    dataset("elsewhere")]), 10)
    assert m.sources["duckdb://shop/shop.main.orders"].last_updated == at(10)
    assert m.stats["events.unknown_source"] == 1


@pytest.mark.req("FR-023")
def test_a_failed_run_fires_on_its_outputs_and_the_jobs_next_complete_resolves_it() -> None:
    m, cfg = started()
    out = send(m, cfg, run_event("FAIL", 10, run_id="r-1", inputs=[dataset("shop.main.customers")],
                                 outputs=[dataset("shop.main.orders")]), 10)
    assert alerts(out) == [("run", "shop.main.orders", "dbt/shop.orders", "FAIL", "firing")]
    assert "r-1" in out.alerts[0].alert.detail and "FAIL" in out.alerts[0].alert.detail
    assert out.alerts[0].alert.requirement == "FR-023"
    # Another job completing does not resolve it; the same job's next COMPLETE does.
    assert alerts(send(m, cfg, run_event("COMPLETE", 20, job="other",
                                         outputs=[dataset("shop.main.orders")]), 20)) == []
    out = send(m, cfg, run_event("COMPLETE", 30, run_id="r-2",
                                 outputs=[dataset("shop.main.orders")]), 30)
    assert alerts(out) == [("run", "shop.main.orders", "dbt/shop.orders", "FAIL", "resolved")]


@pytest.mark.req("FR-023")
def test_an_aborted_run_without_outputs_fires_on_its_inputs() -> None:
    m, cfg = started()
    out = send(m, cfg, run_event("ABORT", 10, inputs=[dataset("shop.main.customers")]), 10)
    assert alerts(out) == [("run", "shop.main.customers", "dbt/shop.orders", "FAIL", "firing")]
    # The job's next COMPLETE names it as an input beside its output: that resolves it.
    out = send(m, cfg, run_event("COMPLETE", 20, inputs=[dataset("shop.main.customers")],
                                 outputs=[dataset("shop.main.orders")]), 20)
    assert alerts(out) == [("run", "shop.main.customers", "dbt/shop.orders", "FAIL", "resolved")]


@pytest.mark.req("FR-023")
def test_failed_assertions_fire_at_their_severity_and_resolve_on_success() -> None:
    m, cfg = started()

    def check(t: float, ok_id: bool, ok_email: bool) -> Outcome:
        return send(m, cfg, run_event("COMPLETE", t, job="shop.test", inputs=[dataset(
            "shop.main.customers", input_side=True, assertions=[
                {"assertion": "not_null", "column": "id", "success": ok_id},
                {"assertion": "unique", "column": "email", "success": ok_email,
                 "name": "unique_customers_email", "severity": "warn",
                 "actual": "3", "expected": "0"}])]), t)

    out = check(10, False, False)
    assert sorted(alerts(out)) == [
        ("assertion", "shop.main.customers", "not_null(id)", "FAIL", "firing"),
        ("assertion", "shop.main.customers", "unique_customers_email", "WARN", "firing")]
    email = next(e.alert for e in out.alerts if e.alert.severity == "WARN")
    assert (email.observed, email.expected) == (3.0, 0.0)
    out = check(20, True, False)
    assert alerts(out) == [("assertion", "shop.main.customers", "not_null(id)", "FAIL",
                            "resolved")]


@pytest.mark.req("FR-023")
def test_schema_changes_alert_naming_each_and_the_same_schema_again_resolves() -> None:
    m, cfg = started()
    v1 = [("id", "INTEGER"), ("email", "VARCHAR"), ("amount", "INTEGER")]
    v2 = [("id", "integer"), ("amount", "BIGINT"), ("discount", "DOUBLE")]

    def complete(t: float, schema: list[tuple[str, str]]) -> Outcome:
        return send(m, cfg, run_event("COMPLETE", t, outputs=[dataset(
            "shop.main.customers", schema=schema)]), t)

    assert complete(10, v1).alerts == []  # the first schema is the baseline
    out = complete(20, v2)
    assert alerts(out) == [("schema", "shop.main.customers", None, "WARN", "firing")]
    detail = out.alerts[0].alert.detail
    assert "removed email" in detail and "added discount (DOUBLE)" in detail
    assert "amount re-typed INTEGER → BIGINT" in detail and "id re-typed" not in detail
    out = complete(30, v2)
    assert alerts(out) == [("schema", "shop.main.customers", None, "WARN", "resolved")]


@pytest.mark.req("FR-023")
def test_a_native_table_update_schema_feeds_the_check_at_fail() -> None:
    m, _cfg = started(CONFIG.replace("  - name: shop.main.customers\n",
                                    "  - name: shop.main.customers\n"
                                    "    schema: {on_change: FAIL}\n"))
    out = Outcome()
    for t, cols in ((1, (("id", "int"),)), (2, (("id", "int"), ("x", "text")))):
        m.on_event(TableUpdate(type="table_update", source="shop.main.customers",
                               updated_at=at(t), schema=cols), 0, at(t), at(t), out)
    assert alerts(out) == [("schema", "shop.main.customers", None, "FAIL", "firing")]
    assert "added x (text)" in out.alerts[0].alert.detail


@pytest.mark.req("FR-023")
def test_each_check_can_be_turned_off_per_source() -> None:
    m, cfg = started()
    out = Outcome()
    for t, kind, schema, ok in ((10, "COMPLETE", [("a", "int")], True),
                                (20, "FAIL", [("b", "int")], False),
                                (30, "COMPLETE", [("c", "int")], False)):
        out = send(m, cfg, run_event(kind, t, outputs=[dataset(
            "quiet", schema=schema, assertions=[{"assertion": "x", "success": ok}])]), t)
        assert out.alerts == []


@pytest.mark.req("FR-023", "NFR-004")
def test_schema_baseline_labels_and_metadata_alerts_survive_a_restore() -> None:
    m, cfg = started()
    send(m, cfg, run_event("COMPLETE", 10, outputs=[dataset(
        "shop.main.customers", schema=[("id", "INTEGER")])]), 10)
    send(m, cfg, run_event("FAIL", 20, outputs=[dataset("shop.main.customers")]), 20)
    restored = Monitor(cfg)
    for p, key, value in m.take_dirty():
        restored.restore(p, key, value, at(30))
    restored.assign([0], at(30))
    src = restored.sources["shop.main.customers"]
    assert src.schema == (("id", "INTEGER"),) and src.labels == {"namespace": "duckdb://shop"}
    out = send(restored, cfg, run_event("COMPLETE", 40, outputs=[dataset(
        "shop.main.customers", schema=[("id", "INTEGER"), ("new", "TEXT")])]), 40)
    assert sorted(alerts(out)) == [
        ("run", "shop.main.customers", "dbt/shop.orders", "FAIL", "resolved"),
        ("schema", "shop.main.customers", None, "WARN", "firing")]


@pytest.mark.req("FR-023", "NFR-006")
@pytest.mark.parametrize("schema", [7, [["a"]], [[1, "x"]], "x"])
def test_a_checkpointed_schema_out_of_shape_is_refused_whole(schema: object) -> None:
    m, _cfg = started()
    value = {"watching_since": "2026-06-26T12:00:00Z", "last_updated": None, "schema": schema}
    with pytest.raises(ValueError, match="schema"):
        m.restore(0, "src\x1fshop.main.customers", value, at(1))


@pytest.mark.req("FR-022", "FR-024")
def test_a_pattern_discovers_datasets_and_their_alerts_carry_owner_and_namespace() -> None:
    m, cfg = started("""
kafka: {bootstrap_servers: "x:9092", input_topics: [in], alert_topic: a,
        dead_letter_topic: d, openlineage_topics: [ol]}
sources:
  - match: "shop.main.*"
    owner: team-shop
    labels: {tier: gold}
    completeness: {columns: {customer_id: {max_null_rate: 0.01}}}
""")
    out = send(m, cfg, run_event("COMPLETE", 10, outputs=[dataset(
        "shop.main.orders", rows=1000, nulls={"customer_id": 50})]), 10)
    assert alerts(out) == [("completeness", "shop.main.orders", "customer_id", "FAIL", "firing")]
    alert = out.alerts[0].alert
    assert alert.owner == "team-shop"
    assert alert.labels == {"tier": "gold", "namespace": "duckdb://shop"}
    out = send(m, cfg, run_event("FAIL", 20, outputs=[dataset("other.orders")]), 20)
    assert alerts(out) == []  # no entry covers it
