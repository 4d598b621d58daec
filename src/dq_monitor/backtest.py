"""FR-013 backtest: replay a ``timestamp,value`` history through the service's own monitor core
(the metric's anomaly check and its static thresholds, FR-026).

The rows become metric events fed to a ``Monitor`` built from the same config, with each row's
timestamp as "now" — so the anomaly check, FR-014 robustness and the alert state machine
(``for``, ``resolve_after``, flap damping) behave exactly as in the service. Bad rows are
reported with their line number and skipped.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TextIO

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from dq_monitor.checks.anomaly import series_key
from dq_monitor.checks.threshold import breach
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import SENSITIVITY, Config, load_config
from dq_monitor.errors import BacktestError
from dq_monitor.events import Metric, parse_rfc3339
from dq_monitor.monitor import Monitor

OUTPUT_COLUMNS = ["timestamp", "value", "z", "severity", "alert", "expected", "scale"]
#: Files larger than this get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class BacktestSummary:
    rows: int
    bad_rows: int
    alerts: Counter[str]
    resolved: int

    def line(self) -> str:
        total = sum(self.alerts.values())
        by = ", ".join(f"{self.alerts[s]} {s}" for s in ("WARN", "FAIL"))
        return (
            f"{total} alert(s) would have been sent ({by}), {self.resolved} resolved, "
            f"over {self.rows} value(s); {self.bad_rows} bad row(s) skipped"
        )


def parse_tags(text: str) -> dict[str, str] | None:
    if not text:
        return None
    tags = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise BacktestError(f"--tags: expected k=v[,k=v...], got {part!r}")
        tags[key.strip()] = value.strip()
    return tags


def _parse_timestamp(text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError:
        # Exports often drop the offset: a naive timestamp is read as UTC.
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"timestamp {text!r} is not an RFC 3339 date-time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(
    reader: Iterator[list[str]], errors: TextIO
) -> Iterator[tuple[str, str, datetime, float] | int]:
    """Yields (raw timestamp, raw value, timestamp, value), or the line number of a bad row."""
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(header):
        raise BacktestError("input is empty: a header 'timestamp,value' is required")
    if "timestamp" not in header or "value" not in header:
        raise BacktestError(f"line 1: header must name 'timestamp' and 'value', got {header}")
    ti, vi = header.index("timestamp"), header.index("value")
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            if len(row) <= max(ti, vi):
                raise ValueError(f"expected {len(header)} columns, got {len(row)}")
            ts = _parse_timestamp(row[ti].strip())
            value = float(row[vi])
            if not math.isfinite(value):
                raise ValueError(f"value {row[vi]!r} is not a finite number")
        except ValueError as exc:
            reason = str(exc)
            if "could not convert" in reason:
                reason = f"value {row[vi]!r} is not a number"
            print(f"line {lineno}: {reason}; row skipped", file=errors)
            yield lineno
            continue
        yield row[ti].strip(), row[vi].strip(), ts, value


def backtest_config(config: Config, source: str, metric: str) -> Config:
    """The config reduced to the checks of the one source's metric: its anomaly check and its
    static thresholds (FR-026); other checks would only add noise. A source a ``match`` entry
    covers (FR-024) is backtested with that entry."""
    src = config.catalog.lookup(source)
    if src is None:
        known = ", ".join([*config.sources_by_name,
                           *(str(p.match) for p in config.catalog.patterns)]) or "none"
        raise BacktestError(f"source {source!r} is not in the config (sources: {known})")
    rule = src.thresholds.get(metric)
    anomaly = src.anomaly if src.anomaly is not None and metric in src.anomaly.metrics else None
    if anomaly is None and rule is None:
        if src.anomaly is None:
            raise BacktestError(f"source {source!r} has no anomaly check or thresholds on "
                                f"{metric!r} to backtest")
        raise BacktestError(
            f"metric {metric!r} is not in the anomaly metrics of {source!r} "
            f"({', '.join(src.anomaly.metrics)}) and has no thresholds"
        )
    only = src.model_copy(update={
        "match": None, "max_sources": None, "freshness": None, "completeness": None,
        "anomaly": anomaly, "thresholds": {} if rule is None else {metric: rule}})
    return config.model_copy(update={"sources": [only]})


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """One replayed value as the service would have judged it (FR-013)."""

    ts: datetime
    value: float
    #: The point's z, and the baseline it was judged against (None while PENDING).
    z: float | None
    expected: float | None
    scale: float | None
    severity: Severity
    #: The values at ``z_warn`` and ``z_fail`` scale units either side of ``expected``.
    warn_band: tuple[float, float] | None
    fail_band: tuple[float, float] | None
    #: Whether the service would have emitted a firing alert event (a new WARN/FAIL or an
    #: escalation) here, and how many resolved events.
    alert: bool
    resolved: int
    alert_severity: str | None


def replay(
    config: Config, source: str, metric: str, points: Iterable[tuple[datetime, float]],
    *, tags: dict[str, str] | None = None, monitor: Monitor | None = None,
) -> Iterator[ReplayRow]:
    """Feed ``(timestamp, value)`` points through a ``Monitor`` built from ``config`` (or the
    one given, whose state the caller keeps: ``seed``), each point's timestamp as the clock,
    and yield what it concluded about each one."""
    if monitor is None:
        monitor = Monitor(backtest_config(config, source, metric))
    monitor.trace_anomaly = True
    entry = monitor.config.sources_by_name[source]
    an, rule = entry.anomaly, entry.thresholds.get(metric)
    subject = series_key(source, metric, tags)
    started = False
    for ts, value in points:
        if not started:
            monitor.assign([0], ts)
            started = True
        event = Metric(type="metric", source=source, metric=metric, value=value, ts=ts,
                       tags=tags)
        out = monitor.on_event(event, partition=0, kafka_ts=ts, now=ts)
        out.alerts += monitor.on_tick(ts).alerts
        result = next((r for s, r in out.anomaly if s == subject), None)
        fired = [e.alert for e in out.alerts if e.alert.status == "firing"]
        severity = Severity.PENDING if result is None else result.severity
        if rule is not None:  # FR-026: the worse of the two checks' verdicts
            limit = breach(rule, value)[0]
            severity = limit if limit.rank > severity.rank else severity
        yield ReplayRow(
            ts=ts, value=value,
            z=None if result is None else result.z,
            expected=None if result is None else result.expected,
            scale=None if result is None else result.scale,
            severity=severity,
            # the thresholds this value was judged by: raised for a heavy-tailed series (FR-017)
            warn_band=(None if result is None or an is None
                       else result.bounds(an.z_warn * result.calibration)),
            fail_band=(None if result is None or an is None
                       else result.bounds(an.z_fail * result.calibration)),
            alert=bool(fired),
            resolved=sum(1 for e in out.alerts if e.alert.status == "resolved"),
            alert_severity=fired[-1].severity if fired else None,
        )


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def run_backtest(
    config: Config,
    source: str,
    metric: str,
    rows_in: IO[str],
    rows_out: IO[str],
    *,
    tags: dict[str, str] | None = None,
    errors: TextIO = sys.stderr,
    progress: Progress | None = None,
    size: int | None = None,
    keep: list[ReplayRow] | None = None,
) -> BacktestSummary:
    """Replay a CSV history into an output CSV; ``keep`` collects the rows (for a plot)."""
    writer = csv.writer(rows_out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    alerts: Counter[str] = Counter()
    counts = {"rows": 0, "bad": 0}
    raw: list[tuple[str, str]] = []
    task = progress.add_task("backtest", total=size) if progress is not None else None
    read = [0]

    def lines() -> Iterator[str]:
        for line in rows_in:
            read[0] += len(line)
            yield line

    def points() -> Iterator[tuple[datetime, float]]:
        for item in _rows(csv.reader(lines()), errors):
            if task is not None and progress is not None and counts["rows"] % 2000 == 0:
                progress.update(task, completed=read[0])
            if isinstance(item, int):
                counts["bad"] += 1
                continue
            raw_ts, raw_value, ts, value = item
            raw.append((raw_ts, raw_value))
            yield ts, value

    resolved = 0
    for row in replay(config, source, metric, points(), tags=tags):
        raw_ts, raw_value = raw.pop()
        if row.alert_severity is not None:
            alerts[row.alert_severity] += 1
        resolved += row.resolved
        writer.writerow([raw_ts, raw_value, _fmt(row.z), row.severity.value,
                         1 if row.alert else 0, _fmt(row.expected), _fmt(row.scale)])
        counts["rows"] += 1
        if keep is not None:
            keep.append(row)
    if task is not None and progress is not None:
        progress.update(task, completed=size)
    return BacktestSummary(rows=counts["rows"], bad_rows=counts["bad"], alerts=alerts,
                           resolved=resolved)


def sweep(config: Config, source: str, metric: str, points: list[tuple[datetime, float]],
          *, tags: dict[str, str] | None = None) -> dict[str, int]:
    """Firing alerts the history would raise at each ``sensitivity`` (thresholds from it)."""
    src = backtest_config(config, source, metric).sources_by_name[source]
    if src.anomaly is None:
        raise BacktestError(f"--sweep: {metric!r} of {source!r} has no anomaly check (its "
                            "thresholds do not depend on sensitivity)")
    counts = {}
    for level in SENSITIVITY:
        warn, fail = SENSITIVITY[level]
        anomaly = src.anomaly.model_copy(
            update={"sensitivity": level, "z_warn": warn, "z_fail": fail})
        cfg = config.model_copy(update={
            "sources": [src.model_copy(update={"anomaly": anomaly})]})
        counts[level] = sum(1 for row in replay(cfg, source, metric, points, tags=tags)
                            if row.alert)
    return counts


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    tags = parse_tags(args.tags)
    path = Path(args.input)
    try:
        size = path.stat().st_size
        src = path.open(newline="", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BacktestError(f"{args.input}: cannot read ({exc.strerror})") from None
    show = not args.no_progress and sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES
    progress = Progress(TextColumn("backtest"), BarColumn(), TimeRemainingColumn(),
                        transient=True, disable=not show)
    keep: list[ReplayRow] | None = [] if (args.plot or args.sweep) else None
    if args.plot:
        from dq_monitor.plot import require_matplotlib

        require_matplotlib()  # fail before the replay, not after it
    try:
        with src, open(args.output, "w", newline="", encoding="utf-8") as out, progress:
            summary = run_backtest(config, args.source, args.metric, src, out, tags=tags,
                                   progress=progress if show else None, size=size, keep=keep)
    except OSError as exc:
        raise BacktestError(f"{args.output}: cannot write ({exc.strerror})") from None
    print(summary.line())
    if args.sweep and keep is not None:
        points = [(r.ts, r.value) for r in keep]
        counts = sweep(config, args.source, args.metric, points, tags=tags)
        print("sensitivity sweep: " + ", ".join(
            f"{level} {SENSITIVITY[level][0]:g}/{SENSITIVITY[level][1]:g}: {n} alert(s)"
            for level, n in counts.items()))
    if args.plot and keep is not None:
        from dq_monitor.plot import plot_backtest

        subject = series_key(args.source, args.metric, tags)
        plot_backtest(keep, args.plot, title=f"{args.source} {subject}")
        print(f"plot written to {args.plot}")
    return 0
