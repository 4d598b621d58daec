"""FR-004 completeness: per-column null rate and minimum row count of one table update.

An empty table (``row_count == 0``) has a null rate of 0 — there is nothing to be null — so
emptiness is the job of ``min_row_count``; no division by zero can happen. A configured column
that an event does not report, or an event without ``row_count``, yields ``PENDING``: no news
rather than a guess.
"""

from __future__ import annotations

from dq_monitor.checks.verdict import FAIL, OK, PENDING, WARN, Severity, Verdict
from dq_monitor.config import CompletenessConfig
from dq_monitor.events import TableUpdate

ROW_COUNT_SUBJECT = "row_count"


def _verdict(source: str, subject: str, severity: Severity, observed: float | None,
             expected: float | None, detail: str) -> Verdict:
    return Verdict("completeness", source, subject, severity, observed, expected, detail)


def evaluate_completeness(cfg: CompletenessConfig, event: TableUpdate, *,
                          only_firing: bool = False) -> list[Verdict]:
    """One verdict per configured column, plus one for ``min_row_count`` when it is set.

    ``only_firing`` leaves out the verdicts that are not WARN or FAIL, unbuilt: for a caller
    with no alert state for the source, to which they would change nothing.
    """
    source, rows = event.source, event.row_count
    out: list[Verdict] = []
    nulls_by_column = event.null_counts or {}
    for column, rule in cfg.columns.items():
        nulls = nulls_by_column.get(column)
        if rows is None or nulls is None:
            if only_firing:
                continue
            missing = "row_count" if rows is None else f"null_counts.{column}"
            out.append(_verdict(source, column, PENDING, None, rule.max_null_rate,
                                f"{source}.{column}: event has no {missing}"))
            continue
        rate = nulls / rows if rows else 0.0
        warn = cfg.warn_rate(column)
        if rate > rule.max_null_rate:
            severity, limit, word = FAIL, rule.max_null_rate, "above the limit"
        elif rate > warn:
            severity, limit, word = WARN, warn, "above the warning level"
        else:
            if only_firing:
                continue
            severity, limit, word = OK, rule.max_null_rate, "within the limit"
        out.append(_verdict(
            source, column, severity, rate, rule.max_null_rate,
            f"{source}.{column} null rate {rate:.4%} ({nulls} of {rows} rows) is {word} "
            f"{limit:.4%}",
        ))
    if cfg.min_row_count is not None:
        minimum = cfg.min_row_count
        if rows is None:
            if not only_firing:
                out.append(_verdict(source, ROW_COUNT_SUBJECT, PENDING, None, minimum,
                                    f"{source}: event has no row_count"))
        elif rows < minimum:
            out.append(_verdict(source, ROW_COUNT_SUBJECT, FAIL, rows, minimum,
                                f"{source} has {rows} rows, below the minimum of {minimum}"))
        elif not only_firing:
            out.append(_verdict(source, ROW_COUNT_SUBJECT, OK, rows, minimum,
                                f"{source} has {rows} rows (minimum {minimum})"))
    return out
