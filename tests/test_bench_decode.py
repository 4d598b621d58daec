"""The restore apply benchmark runs and reports CPU time per series applied (NFR-001)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.req("NFR-001", "NFR-003")
def test_decode_benchmark_reports_apply_and_decode_per_series() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_decode.py"), "--series", "200",
         "--values", "30", "--profile"], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"^200 series of 30 values, record \d+ bytes: apply ([\d.]+) µs/series "
                      r".*decode ([\d.]+) µs/series", proc.stdout, re.MULTILINE)
    assert found is not None, proc.stdout
    assert float(found[1]) > 0 and float(found[2]) > 0
    assert "restore" in proc.stdout.split("µs/series", 2)[-1]  # the profile's functions
