"""The binary series checkpoint (NFR-003, NFR-005, NFR-006): exact, compact, and as forgiving
of old and broken records as the JSON form."""

from __future__ import annotations

import base64
import contextlib
import math
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.checks.anomaly import (
    STATS,
    STATS_V1,
    STATS_V2,
    SeriesState,
    SeriesStateError,
    evaluate,
)
from dq_monitor.config import AnomalyConfig, parse_config
from dq_monitor.errors import DqMonitorError
from dq_monitor.kafka import changelog
from dq_monitor.monitor import Monitor
from dq_monitor.state import checkpoint

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def cfg(**kw: object) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"metrics": ["m"], "window": 100, "min_samples": 20,
                                         **kw})


def fed(c: AnomalyConfig, n: int, *, seed: int = 0, step: float = 60.0,
        counts: bool = False) -> SeriesState:
    """A series after ``n`` values a ``step`` apart: daily pattern, noise, spikes, a shift."""
    rnd = random.Random(seed)
    s = SeriesState.new(c)
    for i in range(n):
        t = T0 + timedelta(seconds=i * step)
        x = 100 + 20 * math.sin(2 * math.pi * (i * step) / 86_400) + rnd.gauss(0, 2)
        if i > n // 2:
            x += 40
        if rnd.random() < 0.02:
            x *= 3
        value = float(max(0, round(x))) if counts else x
        evaluate(s, value, c, source="src", subject="m", ts=t)
    return s


STATES = {
    "warming": (cfg(), 7, {}),
    "robust racing": (cfg(), 3000, {}),
    "robust counts": (cfg(), 600, {"counts": True}),
    "hour_of_day": (cfg(seasonality="hour_of_day"), 2000, {}),
    "no seasonality": (cfg(seasonality="none"), 500, {}),
    "rolling": (cfg(baseline="rolling", rebaseline_after=3), 400, {}),
    "adopted daily": (cfg(), 4 * 1440, {"step": 60.0}),
    "weekday/weekend split": (cfg(), 6 * 288, {"step": 300.0}),
}


@pytest.mark.req("NFR-003", "NFR-006")
@pytest.mark.parametrize("name", sorted(STATES))
def test_a_packed_series_is_its_json_state_exactly(name: str) -> None:
    c, n, kw = STATES[name]
    s = fed(c, n, **kw)  # type: ignore[arg-type]
    assert checkpoint.unpack(checkpoint.pack(s)) == s.to_state()
    value = changelog.decode(changelog.encode(checkpoint.encode(s)))  # as the changelog has it
    assert value is not None
    assert checkpoint.decode(value, c).to_state() == s.to_state()
    # and judges the next values exactly as the same series restored from its JSON form
    again, from_json = checkpoint.decode(value, c), SeriesState.from_state(s.to_state(), c)
    for i, x in enumerate([101.0, 250.0, 99.0, 400.0]):
        t = T0 + timedelta(days=30, minutes=i)
        a = evaluate(from_json, x, c, source="src", subject="m", ts=t)
        b = evaluate(again, x, c, source="src", subject="m", ts=t)
        assert (a.severity, a.z, a.expected) == (b.severity, b.z, b.expected)


@pytest.mark.req("NFR-003", "NFR-006")
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(STATES)), st.integers(min_value=0, max_value=900),
       st.integers(min_value=0, max_value=2**16))
def test_any_series_round_trips(name: str, n: int, seed: int) -> None:
    c = STATES[name][0]
    s = fed(c, n, seed=seed, step=3600.0 if seed % 2 else 60.0)
    assert checkpoint.unpack(checkpoint.pack(s)) == s.to_state()


SEEN = st.none() | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                timezones=st.just(UTC))


@pytest.mark.req("NFR-008", "NFR-006")
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(STATES)), st.integers(min_value=0, max_value=300), SEEN)
def test_the_last_seen_time_round_trips_exactly(name: str, n: int,
                                                seen: datetime | None) -> None:
    c = STATES[name][0]
    s = fed(c, n)
    s.seen = seen
    assert checkpoint.unpack(checkpoint.pack(s)) == s.to_state()
    value = changelog.decode(changelog.encode(checkpoint.encode(s)))
    assert value is not None
    again = checkpoint.decode(value, c)
    assert again.seen == seen
    assert SeriesState.from_state(orjson.loads(orjson.dumps(s.to_state())), c).seen == seen


@pytest.mark.req("NFR-008", "NFR-006")
def test_version_1_records_without_a_last_seen_time_still_restore() -> None:
    c = cfg()
    s = fed(c, 3000)
    s.seen = T0
    raw = checkpoint.pack(s)
    old = checkpoint.MAGIC_V1 + raw[4:5] + raw[13:]  # as written before the field existed
    restored = checkpoint.decode({"bin": base64.b64encode(old).decode()}, c)
    assert restored.seen is None
    assert restored.to_state() == {k: v for k, v in s.to_state().items() if k != "seen"}


@pytest.mark.req("FR-017", "NFR-006")
@pytest.mark.parametrize("saved", [STATS_V1, STATS_V2])
def test_records_saved_before_the_fast_tail_statistics_restore_them_from_their_priors(
        saved: int) -> None:
    c = cfg()
    s = fed(c, 3000)
    state = s.to_state()
    stats = state["stats"]
    assert len(stats) == STATS and stats[STATS_V1:STATS_V2] != [0.0, 0.0]  # spikes counted
    raw = checkpoint.pack(s)
    tail = 1 + 8 * STATS + 9  # the statistics' count, the statistics, the previous value
    old = raw[:-tail] + bytes((saved,)) + raw[-tail + 1:-tail + 1 + 8 * saved] + raw[-9:]
    expected = {**state, "stats": [*stats[:saved], *[0.0] * (STATS - saved)]}
    restored = checkpoint.decode({"bin": base64.b64encode(old).decode()}, c)
    assert restored.to_state() == expected
    as_json = checkpoint.decode({**state, "stats": stats[:saved]}, c)  # the JSON form too
    assert as_json.to_state() == expected
    with pytest.raises(SeriesStateError):
        SeriesState.from_state({**state, "stats": stats[:saved + 1]}, c)


@pytest.mark.req("NFR-008", "NFR-006")
@pytest.mark.parametrize("micros", [2**63 - 1, -(2**63) + 1, 10**18, -(10**18)])
def test_a_last_seen_time_out_of_range_is_a_state_error(micros: int) -> None:
    c = cfg()
    raw = bytearray(checkpoint.pack(fed(c, 50)))
    raw[5:13] = micros.to_bytes(8, "little", signed=True)
    with pytest.raises(SeriesStateError):
        checkpoint.decode({"bin": base64.b64encode(bytes(raw)).decode()}, c)
    for bad in (micros, 1.5e15, "2026-01-05T00:00:00Z", True, [1]):
        with pytest.raises(SeriesStateError):
            SeriesState.from_state({**fed(c, 50).to_state(), "seen": bad}, c)


@pytest.mark.req("NFR-005")
def test_a_racing_series_at_window_100_checkpoints_in_under_2_kb() -> None:
    s = fed(cfg(), 10 * 1440)  # ten days a minute apart: all 199 race offsets learnt
    assert s.baseline is not None and s.baseline.race is not None  # the largest robust state
    s.seen = T0  # with its last-seen time (NFR-008)
    binary = len(checkpoint.encode(s))
    as_json = len(orjson.dumps(s.to_state()))
    assert binary <= 2048, binary
    assert binary * 2 < as_json, (binary, as_json)


@pytest.mark.req("NFR-006")
def test_records_in_the_json_form_still_restore() -> None:
    c = cfg()
    s = fed(c, 3000)
    old = orjson.loads(orjson.dumps(s.to_state()))
    assert checkpoint.decode(old, c).to_state() == s.to_state()


BROKEN = [
    {"bin": "not base64!"},
    {"bin": 12},
    {"bin": base64.b64encode(b"XYZ\x01rest").decode()},
    {"bin": ""},
]


@pytest.mark.req("NFR-006")
@pytest.mark.parametrize("value", BROKEN)
def test_unreadable_binary_records_raise_a_state_error(value: dict[str, object]) -> None:
    with pytest.raises(SeriesStateError):
        checkpoint.decode(value, cfg())


@pytest.mark.req("NFR-006")
def test_truncated_padded_or_poisoned_packs_raise_a_state_error() -> None:
    c = cfg()
    raw = checkpoint.pack(fed(c, 3000))
    cuts = [raw[:n] for n in (4, 5, 9, len(raw) // 2, len(raw) - 1)]
    for bad in [*cuts, raw + b"\x00"]:
        with pytest.raises(SeriesStateError):
            checkpoint.decode({"bin": base64.b64encode(bad).decode()}, c)
    # a count of four billion warm-up values in a short record: refused, nothing allocated
    warming = bytearray(checkpoint.pack(fed(c, 7)))
    at = 4 + 1 + 8 + 2 + 10 + 33 + 42 + 2 + 2  # the warm-up count
    assert warming[at:at + 4] == (7).to_bytes(4, "little")
    warming[at:at + 4] = (2**32 - 2).to_bytes(4, "little")
    with pytest.raises(SeriesStateError):
        checkpoint.restore(bytes(warming), c)
    # a NaN where the level is: caught by the same checks as the JSON form
    state = checkpoint.unpack(raw)
    state["baseline"]["level"] = math.nan
    with pytest.raises(SeriesStateError):
        SeriesState.from_state(state, c)


@pytest.mark.req("NFR-006")
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_a_state_or_a_state_error(blob: bytes) -> None:
    c = cfg()
    for raw in (blob, checkpoint.MAGIC + blob):
        with contextlib.suppress(DqMonitorError):  # anything else fails the test
            checkpoint.decode({"bin": base64.b64encode(raw).decode()}, c)
        with contextlib.suppress(DqMonitorError):  # the packed value as the changelog has it
            checkpoint.decode(raw, c)


CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: orders
    anomaly: {metrics: [revenue], window: 100, min_samples: 20}
"""


@pytest.mark.req("NFR-003", "NFR-006")
def test_the_monitor_checkpoints_binary_and_restores_both_forms() -> None:
    c = parse_config(CONFIG, env={})
    an = c.sources[0].anomaly
    assert an is not None
    series = fed(an, 3000)
    key = "ser\x1forders\x1frevenue"
    for value in (checkpoint.encode(series), series.to_state()):
        m = Monitor(c)
        m.restore(0, key, changelog.decode(changelog.encode(value)), T0)
        snap = m.snapshot(key)
        assert isinstance(snap, bytes) and snap.startswith(checkpoint.MAGIC)
        # a record without a last-seen time restores as seen at the restore (NFR-008)
        restored = checkpoint.decode(snap, an)
        assert restored.seen == T0
        assert restored.to_state() == {**series.to_state(), "seen": restored.seen_us()}


# The direct decode (NFR-001, NFR-003): the common record is built straight from the packed
# numbers; whatever it builds must be exactly what the general path (``unpack`` then
# ``SeriesState.from_state``) builds, and whatever the general path refuses it refuses too.

CONFIGS = [cfg(), cfg(seasonality="none"), cfg(seasonality="hour_of_day"),
           cfg(seasonality="day_of_week"), cfg(baseline="rolling", rebaseline_after=3),
           cfg(window=50, min_samples=10, rebaseline_after=2), cfg(baseline="rolling", window=30)]


def outcome(restore: object) -> object:
    """What a restore gives: the state and its next verdicts, or the error's kind."""
    try:
        series = restore()  # type: ignore[operator]
    except SeriesStateError:
        return "SeriesStateError"
    return series.to_state(), series.seen


def general(raw: bytes, c: AnomalyConfig) -> SeriesState:
    return SeriesState.from_state(checkpoint.unpack(raw), c)


def verdicts(s: SeriesState, c: AnomalyConfig, seed: int) -> list[tuple[object, ...]]:
    rnd = random.Random(seed)
    out: list[tuple[object, ...]] = []
    for i in range(40):
        t = T0 + timedelta(days=9, minutes=7 * i)
        x = 100 + 20 * math.sin(i / 5) + rnd.gauss(0, 3) + (90 if i % 13 == 5 else 0)
        r = evaluate(s, x, c, source="src", subject="m", ts=t)
        out.append((r.severity, r.held, r.z, r.expected, r.scale, r.rebaselined))
    return out


@pytest.mark.req("NFR-001", "NFR-003", "NFR-006")
@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(STATES)), st.integers(min_value=0, max_value=1500),
       st.integers(min_value=0, max_value=2**16), SEEN)
def test_a_restored_series_judges_the_future_as_the_original(name: str, n: int, seed: int,
                                                             seen: datetime | None) -> None:
    c = STATES[name][0]
    s = fed(c, n, seed=seed, step=(60.0, 300.0, 3600.0)[seed % 3])
    s.seen = seen
    raw = checkpoint.pack(s)
    again = checkpoint.restore(raw, c)
    assert again.seen == seen
    assert again.to_state() == general(raw, c).to_state()
    if s.baseline is not None and not (s.baseline.warm is not None and c.seasonality != "auto"):
        assert again.to_state() == s.to_state()  # (a warming seasonal one gets its offsets)
    future = verdicts(again, c, seed)
    assert future == verdicts(general(raw, c), c, seed)
    original = verdicts(s, c, seed)
    if c.baseline == "rolling":
        # the window re-anchors its sums when refilled: the same verdicts to the last bits
        assert [v[:2] for v in future] == [v[:2] for v in original]
        assert [v[2] or 0.0 for v in future] == pytest.approx([v[2] or 0.0 for v in original],
                                                              rel=1e-9)
    else:
        assert future == original


@pytest.mark.req("NFR-001", "NFR-003")
@pytest.mark.parametrize("name", sorted(STATES))
def test_a_current_record_is_built_without_the_general_path(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c, n, kw = STATES[name]
    s = fed(c, n, **kw)  # type: ignore[arg-type]
    s.seen = T0
    value = changelog.decode(changelog.encode(checkpoint.encode(s)))
    assert value is not None
    expected = s.to_state()

    def refused(*_: object) -> SeriesState:
        raise AssertionError("decoded through the to_state dict")

    monkeypatch.setattr(SeriesState, "from_state", refused)
    monkeypatch.setattr(checkpoint, "unpack", refused)
    assert checkpoint.decode(value, c).to_state() == expected


@pytest.mark.req("NFR-001", "NFR-006")
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(STATES)), st.sampled_from(range(len(CONFIGS))),
       st.lists(st.tuples(st.integers(min_value=0, max_value=4000),
                          st.integers(min_value=0, max_value=255)), max_size=4),
       st.integers(min_value=-3, max_value=3))
def test_a_record_under_any_config_or_corrupted_restores_as_the_general_path_says(
        name: str, which: int, flips: list[tuple[int, int]], cut: int) -> None:
    c, n, kw = STATES[name]
    s = fed(c, min(n, 2000), **kw)  # type: ignore[arg-type]
    s.seen = T0
    raw = bytearray(checkpoint.pack(s))
    for at, byte in flips:
        raw[at % len(raw)] = byte
    packed = bytes(raw[:cut] if cut < 0 else raw + bytes(cut))
    now = CONFIGS[which]
    assert outcome(lambda: checkpoint.restore(packed, now)) == outcome(
        lambda: general(packed, now))
