"""The fleet benchmark runs and reports every figure it promises (the README judges them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.req("NFR-003", "FR-024")
def test_fleet_benchmark_reports_load_start_up_scrape_and_alert_costs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_fleet.py"), "--sources", "2100",
         "--scrapes", "2", "--alerts", "200", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = orjson.loads((tmp_path / "fleet.json").read_bytes())
    row = results["by_sources"]["2100"]
    assert row["config_load"]["cpu_s"] > 0
    up = row["start_up"]
    assert 0 < up["http_up_s"] <= up["ready_s"] and up["cpu_s"] > 0 and up["peak_rss_mb"] > 0
    scrape = row["scrape"]
    assert scrape["sources_reported"] == 2100 and not scrape["overflow"]
    assert scrape["series_sum"] == scrape["series_sum_expected"]
    assert scrape["loop_cpu_per_scrape_ms"] >= 0 and scrape["worst_loop_stall_ms"] >= 0
    live = row["live_scrape"]
    assert live["series_tracked"] == 21_000 and live["metrics_bytes"] > 0
    assert live["metrics_scrape_ms"] > 0 and live["loop_block_during_scrape_ms"] >= 0
    assert live["loop_block_without_scrape_ms"] >= 0
    assert results["alert_publish_cpu_us"] > 0
    assert "2100 sources: config load" in proc.stdout and "µs CPU per alert" in proc.stdout
    assert "21000 series tracked: live scrape" in proc.stdout
