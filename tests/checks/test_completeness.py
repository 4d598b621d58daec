"""FR-004 completeness, pure: null rates, warn levels, minimum row count, empty tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dq_monitor.checks.completeness import evaluate_completeness
from dq_monitor.checks.verdict import Severity, Verdict
from dq_monitor.config import CompletenessConfig
from dq_monitor.events import TableUpdate

CFG = CompletenessConfig.model_validate(
    {"min_row_count": 1, "columns": {"customer_id": {"max_null_rate": 0.01},
                                     "amount": {"max_null_rate": 0.5, "warn_null_rate": 0.1}}}
)


def run(rows: int | None, nulls: dict[str, int] | None) -> dict[str | None, Verdict]:
    ev = TableUpdate(type="table_update", source="warehouse.orders",
                     updated_at=datetime(2026, 6, 26, tzinfo=UTC), row_count=rows,
                     null_counts=nulls)
    return {v.subject: v for v in evaluate_completeness(CFG, ev)}


@pytest.mark.req("FR-004")
def test_null_rate_thresholds() -> None:
    v = run(1000, {"customer_id": 5, "amount": 0})
    assert v["customer_id"].severity is Severity.OK
    assert v["customer_id"].observed == 0.005 and v["customer_id"].expected == 0.01
    assert run(1000, {"customer_id": 9, "amount": 0})["customer_id"].severity is Severity.WARN
    fail = run(1000, {"customer_id": 20, "amount": 0})["customer_id"]
    assert fail.severity is Severity.FAIL and fail.requirement == "FR-004"
    assert "2.0000%" in fail.detail and "20 of 1000" in fail.detail


@pytest.mark.req("FR-004")
def test_explicit_warn_rate_and_exact_limits() -> None:
    assert run(100, {"customer_id": 0, "amount": 10})["amount"].severity is Severity.OK
    assert run(100, {"customer_id": 0, "amount": 11})["amount"].severity is Severity.WARN
    assert run(100, {"customer_id": 0, "amount": 50})["amount"].severity is Severity.WARN
    assert run(100, {"customer_id": 0, "amount": 51})["amount"].severity is Severity.FAIL


@pytest.mark.req("FR-004")
def test_min_row_count_and_empty_table() -> None:
    v = run(0, {"customer_id": 0, "amount": 0})
    assert v["row_count"].severity is Severity.FAIL
    assert (v["row_count"].observed, v["row_count"].expected) == (0, 1)
    assert v["customer_id"].severity is Severity.OK and v["customer_id"].observed == 0.0


@pytest.mark.req("FR-004")
def test_missing_figures_are_pending_not_guessed() -> None:
    v = run(None, None)
    assert {s: x.severity for s, x in v.items()} == {
        "customer_id": Severity.PENDING, "amount": Severity.PENDING, "row_count": Severity.PENDING
    }
    assert run(10, {"amount": 0})["customer_id"].severity is Severity.PENDING


@pytest.mark.req("NFR-003", "FR-004")
@pytest.mark.parametrize(("rows", "nulls"), [
    (1000, {"customer_id": 5, "amount": 0}), (1000, {"customer_id": 9, "amount": 200}),
    (1000, {"customer_id": 20, "amount": 600}), (0, {"customer_id": 0}), (None, None),
    (10, {"amount": 2}), (0, None),
])
def test_only_firing_gives_exactly_the_warn_and_fail_verdicts(
    rows: int | None, nulls: dict[str, int] | None
) -> None:
    ev = TableUpdate(type="table_update", source="warehouse.orders",
                     updated_at=datetime(2026, 6, 26, tzinfo=UTC), row_count=rows,
                     null_counts=nulls)
    every = evaluate_completeness(CFG, ev)
    assert evaluate_completeness(CFG, ev, only_firing=True) == [
        v for v in every if v.severity.firing]
