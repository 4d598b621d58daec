"""FR-013 backtest, run as a user would: the CLI on a CSV history, reading the output CSV."""

from __future__ import annotations

import csv
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

CONFIG = """
kafka: {bootstrap_servers: "localhost:9092", input_topics: [m], alert_topic: a,
        dead_letter_topic: d}
sources:
  - name: shop
    anomaly: {metrics: [revenue], window: 100, min_samples: 20, rebaseline_after: 10}
"""

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPIKES = (3000, 6000)
SHIFT = 8000


def history(n: int = 10_000) -> list[tuple[str, float]]:
    rng = random.Random(42)
    rows = []
    for i in range(n):
        value = 1000.0 + rng.uniform(-10.0, 10.0)  # bounded noise: |z| < 2 when healthy
        if i in SPIKES:
            value = 1200.0
        if i >= SHIFT:
            value += 300.0  # lasting level shift
        rows.append(((T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"), value))
    return rows


def run(tmp_path: Path, rows: list[str], *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                              list[dict[str, str]]]:
    (tmp_path / "config.yaml").write_text(CONFIG)
    src = tmp_path / "in.csv"
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "dq_monitor.cli", "backtest", "--config",
         str(tmp_path / "config.yaml"), "--source", "shop", "--metric", "revenue", str(src),
         "--output", str(out), *extra],
        capture_output=True, text=True, timeout=120,
    )
    result = list(csv.DictReader(out.open())) if out.exists() else []
    return proc, result


@pytest.mark.req("FR-013", "FR-014")
def test_spikes_and_level_shift_on_a_10k_point_history(tmp_path: Path) -> None:
    rows = ["timestamp,value", *(f"{t},{v}" for t, v in history())]
    proc, out = run(tmp_path, rows)
    assert proc.returncode == 0, proc.stderr
    assert len(out) == 10_000
    assert list(out[0]) == ["timestamp", "value", "z", "severity", "alert", "expected", "scale"]
    assert {r["severity"] for r in out[:20]} == {"PENDING"}
    assert out[20]["severity"] in ("OK", "WARN", "FAIL") and out[20]["z"]
    assert abs(float(out[2000]["expected"]) - 1000.0) < 3.0  # the level, within noise
    assert 3.0 < float(out[2000]["scale"]) < 8.0  # uniform ±10 has sd 5.8
    for i in SPIKES:
        assert out[i]["severity"] == "FAIL" and out[i]["alert"] == "1"
        assert float(out[i]["z"]) > 6
    assert out[SHIFT]["severity"] == "FAIL" and out[SHIFT]["alert"] == "1"
    # accepted as the new normal within rebaseline_after points, then quiet to the end
    assert out[SHIFT + 9]["severity"] == "OK"
    assert {r["severity"] for r in out[SHIFT + 10:]} <= {"PENDING", "OK"}
    alerts = [i for i, r in enumerate(out) if r["alert"] == "1"]
    assert alerts == [*SPIKES, SHIFT]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(alerts)} alert(s) would have been sent")
    fails = sum(1 for r in out if r["alert"] == "1" and r["severity"] == "FAIL")
    assert f"{fails} FAIL" in summary


@pytest.mark.req("FR-017", "FR-014", "FR-013")
def test_a_doubling_of_the_noise_is_one_alert_then_quiet(tmp_path: Path) -> None:
    # A deploy doubles a metric's jitter: one WARN within 25 points of the change, then quiet
    # to the end with the new noise learnt (the scale used to learn it without any alert).
    rng = random.Random(6)
    rows = ["timestamp,value"]
    for i in range(6000):
        value = round(1000.0 + rng.gauss(0.0, 5.0 if i < 3000 else 10.0), 2)
        rows.append(f"{(T0 + timedelta(minutes=i)).isoformat().replace('+00:00', 'Z')},{value}")
    proc, out = run(tmp_path, rows)
    assert proc.returncode == 0, proc.stderr
    alerts = [i for i, r in enumerate(out) if r["alert"] == "1"]
    assert len(alerts) == 1 and 3000 <= alerts[0] < 3025, alerts
    assert out[alerts[0]]["severity"] == "WARN"
    assert 8.0 < float(out[-1]["scale"]) < 13.0


@pytest.mark.req("FR-013")
def test_bad_rows_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    rows = ["timestamp,value", "2026-01-01T00:00:00Z,1", "2026-01-01T00:01:00Z,abc",
            "yesterday,2", "2026-01-01T00:03:00Z", "2026-01-01T00:04:00Z,inf",
            "2026-01-01 00:05:00,3"]
    proc, out = run(tmp_path, rows)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr
    err = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in err] == ["line 3", "line 4", "line 5", "line 6"]
    assert "'abc' is not a number" in err[0]
    assert [r["value"] for r in out] == ["1", "3"]
    assert "4 bad row(s) skipped" in proc.stdout


@pytest.mark.req("FR-013")
@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        (["time,val", "x,1"], (), "header must name 'timestamp' and 'value'"),
        ([], (), "header 'timestamp,value' is required"),
        (["timestamp,value"], ("--tags", "broken"), "--tags"),
    ],
)
def test_unusable_input_is_a_clear_error(
    tmp_path: Path, rows: list[str], args: tuple[str, ...], message: str
) -> None:
    proc, _ = run(tmp_path, rows, *args)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.req("FR-013")
def test_unknown_source_or_metric_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "in.csv").write_text("timestamp,value\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dq_monitor.cli", "backtest", "--config",
         str(tmp_path / "config.yaml"), "--source", "shop", "--metric", "visits",
         str(tmp_path / "in.csv"), "--output", str(tmp_path / "o.csv")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "metric 'visits' is not in the anomaly metrics of 'shop'" in proc.stderr


@pytest.mark.req("FR-013", "FR-017")
def test_plot_and_sensitivity_sweep(tmp_path: Path) -> None:
    rows = ["timestamp,value", *(f"{t},{v}" for t, v in history(3000))]
    png = tmp_path / "plot.png"
    proc, out = run(tmp_path, rows, "--plot", str(png), "--sweep")
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    sweep = next(line for line in proc.stdout.splitlines() if line.startswith("sensitivity"))
    counts = [int(n) for n in re.findall(r"(\d+) alert\(s\)", sweep)]
    assert len(counts) == 3 and counts[0] <= counts[1] <= counts[2]
    assert counts[1] == sum(1 for r in out if r["alert"] == "1")


@pytest.mark.req("FR-026", "FR-013", "FR-024")
def test_threshold_alerts_of_a_discovered_source_are_backtested(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("""
kafka: {bootstrap_servers: "localhost:9092", input_topics: [m], alert_topic: a,
        dead_letter_topic: d}
sources:
  - match: "api.*"
    thresholds:
      latency_ms: {warn_above: 300, fail_above: 500}
""")
    values = [120, 130, 734, 801, 650, 140, 350, 150]
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n" + "".join(
        f"{(T0 + timedelta(minutes=i)).isoformat()},{v}\n" for i, v in enumerate(values)))
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "dq_monitor.cli", "backtest", "--config",
         str(tmp_path / "config.yaml"), "--source", "api.checkout", "--metric", "latency_ms",
         str(src), "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["severity"] for r in rows] == [
        "OK", "OK", "FAIL", "FAIL", "FAIL", "OK", "WARN", "OK"]
    assert [r["alert"] for r in rows] == ["0", "0", "1", "0", "0", "0", "1", "0"]
    assert proc.stdout.strip().splitlines()[-1].startswith(
        "2 alert(s) would have been sent (1 WARN, 1 FAIL), 2 resolved")


@pytest.mark.req("FR-013", "FR-017")
def test_the_bands_shown_are_the_thresholds_each_value_was_judged_by() -> None:
    # A heavy-tailed series (its normal has bursts of 7-9 sigma): its thresholds are raised, so
    # a value at the configured WARN distance passes; the band a replay shows for it is the
    # raised one, which holds it, not the configured one, which it lies outside of.
    from dq_monitor.backtest import replay
    from dq_monitor.config import parse_config

    rng = random.Random(11)
    points = []
    for i in range(4000):
        value = 1000.0 + rng.gauss(0.0, 5.0)
        if i % 97 == 50:
            value += rng.choice((-1.0, 1.0)) * rng.uniform(35.0, 45.0)
        points.append((T0 + timedelta(minutes=i), round(value, 2)))
    rows = list(replay(parse_config(CONFIG), "shop", "revenue", points))
    raised = [r for r in rows if r.severity.value == "OK" and r.z is not None and abs(r.z) >= 4.5]
    assert raised, "no value passed at the configured WARN distance: the series is not bursty"
    for r in raised:
        assert r.warn_band is not None and r.expected is not None and r.scale is not None
        lo, hi = r.warn_band
        assert lo <= r.value <= hi, (r.value, r.warn_band)
        assert hi - r.expected > 4.5 * r.scale  # wider than the configured band
