"""The per-series cost benchmark runs the real monitor and reports what NFR-003/NFR-005 ask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.req("NFR-003", "NFR-005")
def test_hotpath_benchmark_reports_cpu_rate_checkpoints_and_memory_per_series() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_hotpath.py"), "--series", "200",
         "--per-series", "25"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = orjson.loads(proc.stdout.strip().splitlines()[-1])
    assert result["series"] == 200
    assert 0 < result["events"] <= 200 * 25  # from the first batch read on (or the start)
    assert result["rate"] > 0 and result["cpu_us"] > 0
    assert result["checkpoints"] >= 1 and result["state_records"] >= 200
    assert result["rss_per_series"] != 0
