"""The join benchmark runs and reports each join, dynamic and static (NFR-001); the figures
are judged in the README, not here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.req("NFR-001")
def test_join_benchmark_reports_first_and_restart_joins_for_both_memberships(
    tmp_path: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_join.py"), "--session-timeout", "3",
         "--restarts", "1", "--alive", "0.5", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = orjson.loads((tmp_path / "join.json").read_bytes())
    for name in ("dynamic", "static"):
        assert result[name]["first_s"] > 0
        assert len(result[name]["restarts_s"]) == 1 and result[name]["restarts_s"][0] > 0
        assert f"{name}: first join" in proc.stdout
