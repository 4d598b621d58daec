"""FR-013 seed, without a broker: the history is learnt exactly as the backtest replays it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dq_monitor.config import parse_config
from dq_monitor.errors import BacktestError, SeedError
from dq_monitor.seed import history_files, learn
from dq_monitor.state import checkpoint

CONFIG = """
kafka: {bootstrap_servers: "localhost:9092", input_topics: [m], alert_topic: a,
        dead_letter_topic: d}
sources:
  - name: shop
    anomaly: {metrics: [rows]}
"""


def write(path: Path, values: list[float], start_min: int = 0) -> None:
    rows = "".join(f"2026-01-05T{(start_min + i) // 60:02d}:{(start_min + i) % 60:02d}:00Z,{v}\n"
                   for i, v in enumerate(values))
    path.write_text("timestamp,value\n" + rows)


@pytest.mark.req("FR-013", "FR-017")
def test_the_seeded_state_is_the_backtest_replay_state(tmp_path: Path) -> None:
    cfg = parse_config(CONFIG, env={})
    values = [100.0 + (i * 7) % 5 + 0.5 for i in range(300)]
    folder = tmp_path / "h"
    folder.mkdir()
    write(folder / "a.csv", values[:150])
    write(folder / "b.csv", values[150:], start_min=150)
    (folder / "b.csv").write_text((folder / "b.csv").read_text() + "bad,row\n")
    errors = io.StringIO()
    seeded = learn(cfg, "shop", "rows", history_files(folder), errors=errors)
    assert (seeded.values, seeded.bad_rows) == (300, 1)
    assert "row skipped" in errors.getvalue()
    assert seeded.key == "ser\x1fshop\x1frows"
    # one file or the same rows split over a directory: the same state
    single = tmp_path / "all.csv"
    write(single, values)
    again = learn(cfg, "shop", "rows", history_files(single))
    assert checkpoint.pack(again.series) == checkpoint.pack(seeded.series)
    assert again.series.baseline is not None and again.series.baseline.n == 300


@pytest.mark.req("FR-013")
def test_missing_history_or_unknown_series_are_named(tmp_path: Path) -> None:
    cfg = parse_config(CONFIG, env={})
    with pytest.raises(SeedError, match="no such file"):
        history_files(tmp_path / "nope.csv")
    with pytest.raises(SeedError, match=r"no \.csv file"):
        history_files(tmp_path)
    write(tmp_path / "h.csv", [1.5, 2.5])
    with pytest.raises(BacktestError, match="'other' is not in the config"):
        learn(cfg, "other", "rows", [tmp_path / "h.csv"])
    empty = tmp_path / "e.csv"
    empty.write_text("timestamp,value\n")
    with pytest.raises(SeedError, match="no value to learn from"):
        learn(cfg, "shop", "rows", [empty])
