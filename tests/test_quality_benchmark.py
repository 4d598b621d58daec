"""FR-017: the alert-quality benchmark scores, generates and reports what it claims to."""

from __future__ import annotations

import importlib
import math
import os
import random
import statistics
import subprocess
import sys
import types
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest

if TYPE_CHECKING:
    # mypy names benchmarks/quality/ the package "quality" (benchmarks/ has no __init__.py).
    from quality import corpus, fetch_kpi, reach, run, scoring, synthetic
else:
    corpus = importlib.import_module("benchmarks.quality.corpus")
    fetch_kpi = importlib.import_module("benchmarks.quality.fetch_kpi")
    reach = importlib.import_module("benchmarks.quality.reach")
    run = importlib.import_module("benchmarks.quality.run")
    scoring = importlib.import_module("benchmarks.quality.scoring")
    synthetic = importlib.import_module("benchmarks.quality.synthetic")

ROOT = Path(__file__).resolve().parents[1]
DETECTOR_NAMES = {"robust (default)", "robust low", "robust high", "rolling (previous default)",
                  "rolling (tuned)"}

pytestmark = [pytest.mark.req("FR-017")]


def _alerts(n: int, at: list[int]) -> list[bool]:
    flags = [False] * n
    for i in at:
        flags[i] = True
    return flags


WINDOWS = [scoring.Window(10, 11, "spike", 8.0), scoring.Window(50, 70, "level_shift", 4.0)]


def _score(at: list[int]) -> scoring.Score:
    return scoring.window_score([scoring.score_series("s", "k", _alerts(100, at), WINDOWS)])


# --------------------------------------------------------------------------- scoring


def test_a_perfect_detector_scores_100_and_a_silent_one_0() -> None:
    assert _score([10, 50]).normalised == pytest.approx(100.0)
    assert _score([]).normalised == pytest.approx(0.0)
    # Later alerts in a caught window neither earn nor cost.
    assert _score([10, 50, 51, 60]).normalised == pytest.approx(100.0)


def test_a_false_alert_lowers_the_score_by_its_weight() -> None:
    score = _score([10, 50, 90])
    assert score.raw == pytest.approx(2.0 - 0.11)
    assert score.normalised == pytest.approx(100.0 * (2.0 - 0.11 + 2.0) / 4.0)
    assert _score([90]).normalised == pytest.approx(100.0 * (-2.0 - 0.11 + 2.0) / 4.0)


def test_a_late_alert_earns_less_along_the_sigmoid() -> None:
    early, late = _score([10, 52]), _score([10, 65])
    assert 0.0 < late.raw < early.raw < 2.0
    span = (70 - 50) + scoring.SLACK
    assert early.raw == pytest.approx(1.0 + 2.0 / (1.0 + math.exp(5.0 * 2 / span)))


def test_alerts_in_the_slack_count_for_the_window_and_delays_are_points_from_start() -> None:
    windows = [scoring.Window(10, 13, "drop_to_zero"), scoring.Window(40, 41, "spike")]
    # 15 is 2 points after the first window's end (inside the slack); 46 is just past the
    # second window's slack [41, 46), so it is a false alert and that window is missed.
    r = scoring.score_series("s", "k", _alerts(100, [15, 46]), windows)
    assert [w.delay for w in r.windows] == [5, None]
    assert (r.alerts, r.false_alerts) == (2, 1)
    assert r.normal_points == 100 - (3 + 5) - (1 + 5)
    summary = scoring.summarise([r])
    assert summary["caught"] == 1 and summary["caught_share"] == pytest.approx(0.5)
    assert summary["false_alerts_per_10k"] == pytest.approx(10_000 / 86)
    assert summary["by_type"]["drop_to_zero"]["delay_median"] == 5


def test_delay_quantiles_median_and_p90() -> None:
    windows = [scoring.Window(s, s + 20, "level_shift", 3.5) for s in (0, 100, 200, 300, 400)]
    r = scoring.score_series("s", "k", _alerts(500, [0, 101, 202, 303, 419]), windows)
    summary = scoring.summarise([r])
    assert summary["delay_median"] == 2
    assert summary["delay_p90"] == pytest.approx(statistics.quantiles(
        [0, 1, 2, 3, 19], n=10, method="inclusive")[8])
    assert scoring.quantile([], 0.5) is None


def test_windows_from_labels_are_runs_of_ones() -> None:
    got = scoring.windows_from_labels([0, 1, 1, 0, 0, 1, 0, 1])
    assert [(w.start, w.end) for w in got] == [(1, 3), (5, 6), (7, 8)]


def test_done_when_checks() -> None:
    windows = [scoring.Window(10, 11, "spike", 6.5), scoring.Window(30, 31, "spike", 9.0),
               scoring.Window(50, 70, "level_shift", 3.0), scoring.Window(80, 100,
                                                                        "level_shift", 5.0)]
    r = scoring.score_series("s", "k", _alerts(120, [10, 31, 55, 86]), windows)
    spikes, shifts = scoring.spike_check([r]), scoring.shift_check([r])
    assert (spikes["incidents"], spikes["passed"], spikes["ok"]) == (2, 1, False)
    assert spikes["failed"][0]["start"] == 30
    assert (shifts["incidents"], shifts["passed"]) == (2, 1)
    assert shifts["failed"][0]["delay"] == 6
    assert scoring.window_score([]).normalised is None


# --------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def full_set() -> synthetic.SyntheticSet:
    return synthetic.build()


def test_synthetic_set_is_deterministic(full_set: synthetic.SyntheticSet) -> None:
    again = synthetic.build()
    assert again.incident == full_set.incident and again.clean == full_set.clean
    other = synthetic.build(seed=synthetic.SEED + 1)
    assert other.incident[0].values != full_set.incident[0].values


def test_synthetic_set_covers_every_kind_and_type(full_set: synthetic.SyntheticSet) -> None:
    series = full_set.incident
    assert {s.kind for s in series} == set(synthetic.KINDS)
    assert all(sum(1 for s in series if s.kind == k) >= 3 for k in synthetic.KINDS)
    assert {i.type for s in series for i in s.incidents} == set(synthetic.INCIDENT_TYPES)
    assert sum(len(s.values) - sum(s.labels) for s in series) >= 100_000
    assert all(s.timestamps[0].tzinfo is UTC for s in series)


def test_labels_match_the_injected_incidents(full_set: synthetic.SyntheticSet) -> None:
    for s, clean in zip(full_set.incident, full_set.clean, strict=True):
        inside = {j for i in s.incidents for j in range(i.start, i.end)}
        assert s.labels == [1 if j in inside else 0 for j in range(len(s.values))], s.name
        assert clean.labels == [0] * len(clean.values) and clean.incidents == ()
        starts = [i.start for i in s.incidents]
        assert starts == sorted(starts) and all(
            b.start - a.end >= synthetic.GAP[0] for a, b in pairwise(s.incidents))
        if s.incidents:
            first = s.incidents[0].start
            assert s.values[:first] == clean.values[:first], s.name


def test_incidents_are_what_their_labels_say(full_set: synthetic.SyntheticSet) -> None:
    for s, clean in zip(full_set.incident, full_set.clean, strict=True):
        # counts are redrawn after a shift, sizes after a noise shift are in its new units; the
        # rest add up in the series' first units
        additive = s.kind not in ("poisson", "noise_shift")
        for inc in s.incidents:
            a, b = inc.start, inc.end
            diff = [v - c for v, c in zip(s.values, clean.values, strict=True)]
            if inc.type in ("spike", "dip"):
                assert b - a == 1 and inc.size >= (20.0 if s.kind == "bursty" else 6.0)
                if additive:
                    sign = 1.0 if inc.type == "spike" else -1.0
                    jump = diff[a] - diff[a - 1]
                    assert jump == pytest.approx(sign * inc.size * s.unit, abs=0.02 * s.unit)
            elif inc.type == "drop_to_zero":
                assert 3 <= b - a <= 6 and all(v == 0.0 for v in s.values[a:b])
            elif inc.type == "stuck":
                assert b - a >= 50 and set(s.values[a:b]) == {s.values[a - 1]}
            elif inc.type == "noise_shift":
                assert b - a == synthetic.SHIFT_WINDOW and 2.0 <= inc.size <= 4.0
                assert statistics.pstdev(s.values[a:a + 200]) > 1.5 * statistics.pstdev(
                    clean.values[a:a + 200]), (s.name, inc)
            elif inc.type == "variance":
                assert 50 <= b - a <= 200 and 3.0 <= inc.size <= 5.0
                assert statistics.pstdev(s.values[a:b]) > 1.5 * statistics.pstdev(
                    clean.values[a:b]), (s.name, inc)
            else:
                assert b - a == synthetic.SHIFT_WINDOW and inc.size >= 3.0
                if additive:
                    moved = statistics.fmean(diff[a:b]) - statistics.fmean(diff[a - 20:a])
                    assert abs(moved) == pytest.approx(inc.size * s.unit, abs=0.05 * s.unit)


# --------------------------------------------------------------------------- the KPI corpus


def test_the_kpi_corpus_is_three_real_operations_series_with_their_labels() -> None:
    kpi = [s for s in corpus.load_corpus() if s.kind == "kpi"]
    assert sorted(s.name for s in kpi) == ["cpu4", "server_res_eth1out_curve_6",
                                            "server_res_eth1out_curve_61"]
    for s in kpi:
        assert len(s.values) == 17_568  # 61 days at 5 minutes, no gaps
        steps = {(b - a).total_seconds() for a, b in pairwise(s.timestamps)}
        assert steps == {300.0}
    assert sum(len(corpus.windows(s.labels)) for s in kpi) == 82
    assert sum(sum(s.labels) for s in kpi) == 596


def test_the_kpi_conversion_checks_its_sources_and_keeps_every_row(tmp_path: Path) -> None:
    checkout, out = tmp_path / "donut", tmp_path / "out"
    (checkout / "sample_data").mkdir(parents=True)
    for rel in fetch_kpi.BLOB_IDS:
        (checkout / rel).write_text("timestamp,value,label\n1469376000,0.5,0\n"
                                    "1469376300,-1.25,1\n")
    assert fetch_kpi.main([str(checkout), "--out", str(out)]) == 1  # not the pinned files
    assert not list(out.glob("*.csv"))
    assert fetch_kpi.main([str(checkout), "--out", str(out), "--allow-changed"]) == 0
    text = (out / "cpu4.csv").read_text()
    assert text == ("timestamp,value,label\n2016-07-24T16:00:00Z,0.5,0\n"
                    "2016-07-24T16:05:00Z,-1.25,1\n")
    (checkout / "sample_data" / "cpu4.csv").write_text("timestamp,value,label\n5,1.0,0\n5,2.0,0\n")
    assert fetch_kpi.main([str(checkout), "--out", str(out), "--allow-changed"]) == 1


# --------------------------------------------------------------------------- the command


def test_a_public_corpus_is_cut_for_a_quick_run_and_scored_from_its_labels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    n = run.QUICK_CORPUS[1] + 500
    values = [round(rng.gauss(100.0, 5.0), 1) for _ in range(n)]
    values[2000] = 160.0
    values[1000] = math.nan  # a gap: skipped, the indices still line up with the labels
    labels = [1 if i == 2000 else 0 for i in range(n)]
    stamps = [datetime(2024, 1, 1) + timedelta(minutes=i) for i in range(n)]  # naive: UTC
    whole = synthetic.LabelledSeries("p-0", "public_kind", stamps, values, labels)
    fake = types.ModuleType("benchmarks.quality.corpus")
    monkeypatch.setattr(fake, "load_corpus", lambda: [whole] * 5, raising=False)
    monkeypatch.setitem(sys.modules, "benchmarks.quality.corpus", fake)
    series, note = run.load_public(quick=True)
    assert len(series) == run.QUICK_CORPUS[0] and "quick" in note
    assert [len(s.values) for s in series] == [run.QUICK_CORPUS[1]] * run.QUICK_CORPUS[0]
    one = series[0]
    corpus = run.Corpus(run.PUBLIC, [one], [0], [scoring.windows_from_labels(one.labels)])
    text = run.config_text({})
    with run.replayer([(list(one.timestamps), list(one.values))], 1) as rep:
        rep.run([text], [0])
        result = run.results_for(rep, text, corpus)
    assert (result["windows"], result["caught"], result["delay_median"]) == (1, 1, 0)



def test_quick_run_writes_results_and_plots_for_every_detector(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = orjson.loads((tmp_path / "quality.json").read_bytes())
    assert set(doc["results"]) == DETECTOR_NAMES == set(doc["detectors"])
    for per in doc["results"].values():
        syn = per["synthetic"]
        assert syn["windows"] > 0 and syn["clean"]["points"] > 0
        assert {"window_score", "false_alerts_per_10k", "caught_share", "delay_median",
                "delay_p90", "by_type", "by_kind", "checks"} <= set(syn)
    chosen = doc["tuning"]["chosen"]
    assert doc["detectors"]["rolling (tuned)"]["options"] == chosen
    assert len(doc["tuning"]["results"]) == math.prod(len(v) for v in run.QUICK_GRID.values())
    assert doc["quick"] is True and doc["run_time_s"] > 0
    for name in DETECTOR_NAMES:
        assert f"| {name} |" in proc.stdout
    # each public corpus present is scored on its own
    kinds = {s.kind for s in corpus.load_corpus()}
    assert kinds == {"kpi", "skab"}
    for per in doc["results"].values():
        assert kinds <= set(per) and "public" not in per
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        message = "matplotlib is needed for the quality plots: pip install -e '.[test]'"
        if os.environ.get("CI") == "1":
            pytest.fail(message)
        pytest.skip(message)
    for png in ("quality.png", "quality_examples.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert doc["plots"] == ["quality.png", "quality_examples.png"]


def test_the_command_also_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality" / "run.py"), "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


def test_reach_alerts_once_per_excursion_and_scores_as_the_benchmark() -> None:
    # Excursions 13 points apart alert twice; one that pauses for under GAP points (24 to 40),
    # once; with a shorter gap its pauses part it.
    score = [0.0] * 60
    for i in (10, 11, 24, 30, 35, 40):
        score[i] = 5.0
    assert [i for i, a in enumerate(reach.alerts_at(score, 4.0)) if a] == [10, 24]
    assert [i for i, a in enumerate(reach.alerts_at(score, 4.0, gap=4)) if a] == [10, 24, 30,
                                                                                  35, 40]
    # A window [22, 26) catches the alert at 24; the one at 10 is false.
    wins = [scoring.Window(22, 26)]
    (row,) = reach.sweep("z", [(score, wins)], [4.0])
    assert (row.caught, row.windows, row.false_alerts) == (1, 1, 1)
    assert row.normal_points == 60 - 4 - scoring.SLACK
    assert row.false_per_10k == pytest.approx(1e4 / row.normal_points)
    (high,) = reach.sweep("z", [(score, wins)], [6.0])
    assert (high.caught, high.false_alerts) == (0, 0)


def test_reach_day_over_day_compares_a_point_with_the_same_time_a_day_earlier() -> None:
    day = 86_400.0
    seconds = [i * 3600.0 for i in range(72)]  # three days, hourly
    rnd = random.Random(5)
    values = [10.0 * math.sin(2 * math.pi * i / 24) + rnd.gauss(0, 0.1) for i in range(72)]
    values[50] += 5.0  # a jump that only the day-over-day difference makes stand out
    labels = [1 if i == 50 else 0 for i in range(72)]
    score = reach.day_over_day(seconds, values, labels)
    assert score[:24] == [0.0] * 24  # nothing a day earlier
    assert seconds[50] - day in seconds
    others = [x for i, x in enumerate(score) if i >= 24 and i != 50]
    assert score[50] > 4 * max(others)
