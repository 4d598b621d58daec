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


@pytest.mark.integration
@pytest.mark.req("NFR-003", "NFR-001", "FR-016")
def test_fleet_benchmark_quick_modes_time_the_start_up_phases_and_a_live_scrape(
        tmp_path: Path) -> None:
    for mode in (["--only-start-up", "2"], ["--only-live-scrape", "--scrapes", "2"]):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "bench_fleet.py"), "--sources", "300",
             *mode, "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=240,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    start = orjson.loads((tmp_path / "fleet-start-up.json").read_bytes())["by_sources"]["300"]
    assert len(start["rounds"]) == 2
    m = start["median"]
    assert 0 < m["config_read_s"] <= m["api_up_s"] <= m["join_sent_s"] <= m["assigned_s"]
    assert m["assigned_s"] <= m["ready_s"] and m["join_s"] > 0
    live = orjson.loads((tmp_path / "fleet-scrape.json").read_bytes())["by_sources"]["300"]
    assert live["live_scrape"]["series_tracked"] == 3000
    assert live["live_scrape"]["metrics_bytes"] > 0
