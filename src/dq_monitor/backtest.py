"""FR-013 backtest: replay a ``timestamp,value`` history through the service's own monitor core.

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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TextIO

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from dq_monitor.checks.anomaly import series_key
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import Config, load_config
from dq_monitor.errors import BacktestError
from dq_monitor.events import Metric, parse_rfc3339
from dq_monitor.monitor import Monitor

OUTPUT_COLUMNS = ["timestamp", "value", "z", "severity", "alert"]
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
    """The config reduced to the one source's anomaly check (other checks would only add noise)."""
    src = config.sources_by_name.get(source)
    if src is None:
        known = ", ".join(config.sources_by_name) or "none"
        raise BacktestError(f"source {source!r} is not in the config (sources: {known})")
    if src.anomaly is None:
        raise BacktestError(f"source {source!r} has no anomaly check to backtest")
    if metric not in src.anomaly.metrics:
        raise BacktestError(
            f"metric {metric!r} is not in the anomaly metrics of {source!r} "
            f"({', '.join(src.anomaly.metrics)})"
        )
    only = src.model_copy(update={"freshness": None, "completeness": None})
    return config.model_copy(update={"sources": [only]})


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
) -> BacktestSummary:
    monitor = Monitor(backtest_config(config, source, metric))
    monitor.trace_anomaly = True
    subject = series_key(source, metric, tags)
    writer = csv.writer(rows_out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    alerts: Counter[str] = Counter()
    rows = bad = resolved = 0
    started = False
    task = progress.add_task("backtest", total=size) if progress is not None else None
    read = [0]

    def lines() -> Iterator[str]:
        for line in rows_in:
            read[0] += len(line)
            yield line

    for item in _rows(csv.reader(lines()), errors):
        if task is not None and progress is not None and rows % 2000 == 0:
            progress.update(task, completed=read[0])
        if isinstance(item, int):
            bad += 1
            continue
        raw_ts, raw_value, ts, value = item
        if not started:
            monitor.assign([0], ts)
            started = True
        event = Metric(type="metric", source=source, metric=metric, value=value, ts=ts,
                       tags=tags)
        out = monitor.on_event(event, partition=0, kafka_ts=ts, now=ts)
        out.alerts += monitor.on_tick(ts).alerts
        result = next((r for s, r in out.anomaly if s == subject), None)
        severity = result.severity if result is not None else Severity.PENDING
        z = "" if result is None or result.z is None else f"{result.z:.6g}"
        fired = [e.alert for e in out.alerts if e.alert.status == "firing"]
        resolved += sum(1 for e in out.alerts if e.alert.status == "resolved")
        for a in fired:
            alerts[a.severity] += 1
        writer.writerow([raw_ts, raw_value, z, severity.value, 1 if fired else 0])
        rows += 1
    if task is not None and progress is not None:
        progress.update(task, completed=size)
    return BacktestSummary(rows=rows, bad_rows=bad, alerts=alerts, resolved=resolved)


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
    try:
        with src, open(args.output, "w", newline="", encoding="utf-8") as out, progress:
            summary = run_backtest(config, args.source, args.metric, src, out, tags=tags,
                                   progress=progress if show else None, size=size)
    except OSError as exc:
        raise BacktestError(f"{args.output}: cannot write ({exc.strerror})") from None
    print(summary.line())
    return 0
