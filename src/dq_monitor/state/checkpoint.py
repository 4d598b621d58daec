"""A compact binary codec for checkpointed anomaly series (NFR-003, NFR-005, NFR-006).

A series' checkpoint used to be its ``SeriesState.to_state()`` dict as JSON: some 230 floats as
decimal text for a robust series racing its seasonal models. Here the same content is packed —
doubles as 8 bytes, the float32 seasonal offsets as 4, visit counts as 1 — and written as the
changelog value itself (its first bytes, ``b"DQS"``, tell it from the JSON objects of every
other kind of state). Records written as base64 in a one-field JSON object, ``{"bin": "..."}``,
by earlier versions still restore; the bare value is a quarter smaller, and encoding and
restoring it skip the base64 and JSON steps (NFR-001, NFR-008).

Decoding (NFR-001: restart time is spent here, once per live series) builds the common record —
the current version, written under the config's baseline kind and seasonality, every number
finite — straight into the objects: the packed arrays are copied into exact-size arrays and
checked in one pass each, the scalars read at their offsets. Every other record (an older
version, another baseline kind or seasonality, anything the direct path doubts) is unpacked to
exactly the dict ``to_state`` gives and handed to ``SeriesState.from_state``, so every check
and every rule for a state saved under another config is the one the JSON form has always had,
and the JSON form itself (records written before this codec) still restores. The direct path
only ever accepts what that path accepts, and builds the same series. A record that does not
parse raises ``SeriesStateError``, which the changelog reader turns into an ``unreadable_state``
dead letter as before.

Layout, little-endian: ``b"DQS"`` and a version byte; flags (1 window, 2 baseline, 4 run);
since version 2 the last-seen instant (i64 microseconds since the Unix epoch, the i64 minimum
for none; version 1 records have none and restore as seen at restore time); the streak (u16
count, doubles); sign (i8); burst (u8: 0 none, 1 WARN, 2 FAIL); quiet (i64); then the window
(u32 count, doubles) or the run (4 doubles, u8 index) and the baseline: n (i64), level, trend,
var, quantum (doubles), counts (u8), kind (u8), offsets (u16 count or 0xFFFF for none,
float32s), visits (u16 count or 0xFFFF, bytes), warm-up values (u32 count or 0xFFFFFFFF,
doubles) and the seasonality race (u8 present; t0, t_last (doubles), t_last present and
daily_done (u8 each), 199 float32 offsets, 27 doubles). With flag 8 (robust series since the
deviation statistics, FR-017) the state ends with the statistics (u8 count, doubles) and the
previous value (u8 present, double); a record without the flag restores them from their priors,
and one with 10 statistics (written before the fast tail's two) restores those two from theirs.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import sys
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

from dq_monitor.checks.anomaly import RUN, RUN_CLIP, STATS, SeriesState, SeriesStateError
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import CAP, RACE_OFF_BYTES, SEASONS, STEPS, Baseline, SeasonRace
from dq_monitor.state.baseline import RACE_STATS as _RACE_STATS
from dq_monitor.state.baseline import T0 as _T0
from dq_monitor.state.shared import Shared

MAGIC = b"DQS\x02"
#: The version written before the last-seen instant was part of the state: still read.
MAGIC_V1 = b"DQS\x01"
#: The key of the JSON object that carried a binary series state before it was the value.
FIELD = "bin"

_WINDOW, _BASELINE, _RUN, _STATS = 1, 2, 4, 8
_BURSTS: dict[str | None, int] = {None: 0, "WARN": 1, "FAIL": 2}
_BURST_NAMES = {code: name for name, code in _BURSTS.items()}
_KINDS = ("auto", "none", "hour_of_day", "day_of_week", "hour_of_week", "weekpart_hour")
_KIND_CODES = {kind: i for i, kind in enumerate(_KINDS)}
_NONE16, _NONE32 = 0xFFFF, 0xFFFFFFFF
_RACE_OFF = 199
_LITTLE = sys.byteorder == "little"

_HEAD = struct.Struct("<bBq")  # sign, burst, quiet
_SEEN = struct.Struct("<q")  # last seen, microseconds since the epoch
_NO_SEEN = -(2**63)
_BASE = struct.Struct("<qddddBB")  # n, level, trend, var, quantum, counts, kind
_RACE = struct.Struct("<ddBB")  # t0, t_last, t_last present, daily_done
_LAST = struct.Struct("<Bd")  # previous value present, previous value
_RING = struct.Struct(f"<{RUN}d")  # the run ring
_FRONT = struct.Struct("<4sBqH")  # magic, flags, last seen, streak count
_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_WINDOW_LESS_ROBUST = _BASELINE | _RUN | _STATS
_SEVERITIES = (None, Severity.WARN, Severity.FAIL)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _raw(values: array[Any]) -> bytes | array[Any]:
    """The packed (little-endian) items of ``values``: the array itself where that is native
    (``bytes.join`` reads it in place: no copy per part, NFR-003)."""
    if _LITTLE or values.itemsize == 1:
        return values
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _doubles(values: array[float] | list[float]) -> bytes | array[float]:
    return _raw(values if isinstance(values, array) else array("d", values))


def encode(state: SeriesState) -> bytes:
    """The changelog value of one series: its packed state."""
    return pack(state)


#: The last ``seen`` instant packed and its microseconds: the series of one batch share one
#: instant, so a checkpoint converts it once rather than once per series (NFR-003).
_seen_memo: tuple[datetime | None, int] = (None, _NO_SEEN)
_NO_STREAK: array[float] = array("d")
_NONE16_BYTES, _NONE32_BYTES = _U16.pack(_NONE16), _U32.pack(_NONE32)
_BYTE = tuple(bytes((i,)) for i in range(256))


def _seen_us(seen: datetime | None) -> int:
    global _seen_memo
    if seen is None:
        return _NO_SEEN
    memo = _seen_memo
    if memo[0] is seen:
        return memo[1]
    us = (seen - _EPOCH) // _MICROSECOND
    _seen_memo = (seen, us)
    return us


def pack(state: SeriesState) -> bytes:
    """The packed state (see the module docstring for the layout)."""
    window, run = state.window, state.run
    flags = _WINDOW if window is not None else _WINDOW_LESS_ROBUST
    burst = state.burst
    streak = state.streak if state.streak is not None else _NO_STREAK
    parts: list[bytes | array[Any] | memoryview[Any]] = [
        _FRONT.pack(MAGIC, flags, _seen_us(state.seen), len(streak)), _raw(streak),
        _HEAD.pack(state.streak_sign, 0 if burst is None else _BURSTS[burst.value],
                   state.quiet)]
    if window is not None:
        values = window.values()
        parts += [_U32.pack(len(values)), _doubles(values)]
    else:  # a robust series: its own baseline
        assert run is not None
        last = state.last
        finite = math.isfinite(last)
        if _LITTLE:
            view = memoryview(run)
            parts += [view[:RUN], _BYTE[state.run_i]]
            _pack_baseline(state, parts)
            parts += [_BYTE[STATS], view[RUN:], _LAST.pack(finite, last if finite else 0.0)]
            return b"".join(parts)
        parts += [_raw(run[:RUN]), _BYTE[state.run_i]]
        _pack_baseline(state, parts)
        parts += [_BYTE[STATS], _raw(run[RUN:]), _LAST.pack(finite, last if finite else 0.0)]
    return b"".join(parts)


def _pack_baseline(b: Baseline, parts: list[bytes | array[Any] | memoryview[Any]]) -> None:
    """Append the packed baseline to ``parts``."""
    parts.append(_BASE.pack(b.n, b.level, b.trend, b.var, b.quantum, b.counts,
                            _KIND_CODES[b.kind]))
    off, visits, warm = b.off, b.visits, b.warm
    if off is None:
        parts.append(_NONE16_BYTES)
    else:
        parts += [_U16.pack(len(off)), _raw(off)]
    if visits is None:
        parts.append(_NONE16_BYTES)
    else:
        parts += [_U16.pack(len(visits)), visits]
    if warm is None:
        parts.append(_NONE32_BYTES)
    else:
        parts += [_U32.pack(len(warm)), _raw(warm)]
    race = b.race
    if race is None:
        parts.append(b"\x00")
        return
    finite = math.isfinite(race.t_last)
    stats = race.stats
    parts += [b"\x01", _RACE.pack(stats[_T0], race.t_last if finite else 0.0, finite,
                                   race.daily_done)]
    if _LITTLE:
        raw = memoryview(race).cast("B")  # the race's own bytes: offsets, then statistics
        parts += [raw[RACE_OFF_BYTES], raw[:8 * _RACE_STATS]]
    else:
        parts += [_raw(array("f", race.off)), _raw(stats[:_RACE_STATS])]


def decode(value: dict[str, Any] | bytes, cfg: AnomalyConfig) -> SeriesState:
    """Rebuild a series from its changelog value: the packed bytes, or the older forms (the
    packed state as base64 in ``{"bin": ...}``, or ``SeriesState.to_state`` as JSON)."""
    if isinstance(value, bytes):
        return restore(value, cfg)
    if FIELD not in value:
        return SeriesState.from_state(value, cfg)
    packed = value[FIELD]
    if not isinstance(packed, str):
        raise SeriesStateError(f"anomaly series state: {FIELD}: must be base64 text")
    try:
        raw = base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError):
        raise SeriesStateError(f"anomaly series state: {FIELD}: not base64") from None
    return restore(raw, cfg)


def restore(raw: bytes, cfg: AnomalyConfig) -> SeriesState:
    """The series packed in ``raw``, under the current config; ``SeriesStateError`` if it is
    not one. The common record (the current version, written under the same baseline kind,
    seasonality and statistics as the config's) is built straight from the packed numbers;
    any other, and any the direct path doubts, goes through ``unpack`` and
    ``SeriesState.from_state``, whose rules and error messages are the contract."""
    series = _direct(raw, cfg) if _LITTLE else None
    return SeriesState.from_state(unpack(raw), cfg) if series is None else series


def _direct(raw: bytes, cfg: AnomalyConfig) -> SeriesState | None:
    """The series packed in ``raw`` built straight from the packed numbers, or None when the
    record is not the common case or anything about it is in doubt (the caller then takes the
    general path, which restores it or names what is wrong)."""
    try:
        return _build(raw, cfg)
    except (struct.error, IndexError, ValueError, OverflowError):
        return None


def _fill(target: array[Any], raw: bytes, at: int) -> int:
    """Copy the packed items at ``at`` over ``target`` (exact size kept, NFR-005); the offset
    after them. A short ``raw`` raises ``ValueError``."""
    end = at + len(target) * target.itemsize
    memoryview(target).cast("B")[:] = raw[at:end]
    return end


def _fill_finite(target: array[float], raw: bytes, at: int) -> int:
    """``_fill`` for floats, -1 if a packed value may not be finite (see ``_finite``)."""
    end = _fill(target, raw, at)
    return end if _finite(raw, at, end, target.itemsize) else -1


def _finite(raw: bytes, at: int, end: int, width: int) -> bool:
    """Whether the packed little-endian floats of ``width`` bytes in ``raw[at:end]`` are all
    finite, judged on the bytes at C speed: a value that is not has every exponent bit set, so
    its top byte is 0x7F or 0xFF. The test is conservative (it also refuses magnitudes from
    2**127 in float32, 2**1023 in float64: then the general path checks one by one)."""
    top = raw[at + width - 1:end:width]
    return b"\x7f" not in top and b"\xff" not in top


def _build(raw: bytes, cfg: AnomalyConfig) -> SeriesState | None:
    """``_direct`` itself: the rules are ``SeriesState.from_state``'s, applied to the packed
    numbers; a short record raises (``struct.error``, ``ValueError``, ``IndexError``)."""
    magic, flags, seen, count = _FRONT.unpack_from(raw, 0)
    if magic != MAGIC:
        return None
    streak_at = _FRONT.size
    at = streak_at + 8 * count
    sign, burst, quiet = _HEAD.unpack_from(raw, at)
    at += _HEAD.size
    if burst > 2 or count > cfg.rebaseline_after:
        return None
    if cfg.baseline == "rolling":
        if flags != _WINDOW:
            return None
        series = SeriesState.new(cfg)
        (size,) = _U32.unpack_from(raw, at)
        if at + 4 + 8 * size != len(raw):  # checked before anything is allocated
            return None
        values = array("d", [0.0]) * size
        at = _fill_finite(values, raw, at + 4)
        if at != len(raw):
            return None
        assert series.window is not None
        series.window.reset(values)
    else:
        if flags != _WINDOW_LESS_ROBUST:
            return None
        series = SeriesState.new(cfg)
        run = series.run
        assert run is not None
        if len(run) != RUN + STATS:
            return None
        # The ring is written clipped: within the clip, the general path's clipping and
        # finiteness checks change nothing (NaN fails the comparisons: general path).
        ring = _RING.unpack_from(raw, at)
        r0, r1, r2, r3 = ring
        if not (-RUN_CLIP <= r0 <= RUN_CLIP and -RUN_CLIP <= r1 <= RUN_CLIP
                and -RUN_CLIP <= r2 <= RUN_CLIP and -RUN_CLIP <= r3 <= RUN_CLIP):
            return None
        ring_at = at
        run_i = raw[at + _RING.size]
        at = _fill_baseline(series, raw, at + _RING.size + 1, cfg.seasonality)
        if at < 0 or raw[at] != STATS:
            return None
        at += 1
        stats_end = at + 8 * STATS
        if not _finite(raw, at, stats_end, 8):
            return None
        present, last = _LAST.unpack_from(raw, stats_end)
        if stats_end + _LAST.size != len(raw):
            return None
        # The packed ring and statistics copied straight into the run array (NFR-001: no
        # intermediate array per series).
        run_bytes = memoryview(run).cast("B")
        run_bytes[:_RING.size] = raw[ring_at:ring_at + _RING.size]
        run_bytes[_RING.size:] = raw[at:stats_end]
        run_bytes.release()
        series.run_i = run_i % RUN
        series.run_sum = math.fsum(ring)
        if present:
            if last - last != 0.0:
                return None
            series.last = last
    if count:  # (at most ``rebaseline_after``: checked above)
        streak = array("d", [0.0]) * count
        if _fill_finite(streak, raw, streak_at) < 0:
            return None
        series.streak = streak
    series.streak_sign = max(-1, min(1, sign))
    series.burst = _SEVERITIES[burst]
    series.quiet = max(0, quiet)
    if seen != _NO_SEEN:
        series.seen = _seen_at(seen)
    return series


#: The last-seen instant ``us`` microseconds after the epoch (OverflowError past 9999). The
#: series a batch touched were stamped with one instant, so their records carry the same
#: number: restored, they share one datetime rather than each holding a copy (NFR-005).
_seen_at: Shared[int, datetime] = Shared(lambda us: _EPOCH + timedelta(microseconds=us))


#: The resolutions ``baseline.resolution`` gives, as the shared floats it returns (NFR-005).
_QUANTA = {q: q for q in (0.0, 1.0, *STEPS)}


def _fill_baseline(b: Baseline, raw: bytes, at: int, seasonality: str) -> int:
    """Set ``b`` from the packed baseline at ``at``; the offset after it, -1 if it is not the
    common case (see ``_direct``). The rules are ``Baseline.load_model_state``'s."""
    n, level, trend, var, quantum, counts, code = _BASE.unpack_from(raw, at)
    at += _BASE.size
    checked = level + trend + var + quantum
    if checked - checked != 0.0 or var < 0.0 or quantum < 0.0 or code >= len(_KINDS):
        return -1
    # (n through a float, as the general path reads every number: the same n past 2**53)
    b.n, b.level, b.trend, b.var = int(float(n)), level, trend, var
    b.quantum, b.counts = _QUANTA.get(quantum, quantum), counts > 0
    kind = _KINDS[code]
    (size,) = _U16.unpack_from(raw, at)
    at += 2
    season = SEASONS.get(kind)
    if season is not None:
        if size != season[0] or not (seasonality == kind or seasonality == "auto"):
            return -1
        b.kind = kind
        off = array("f", [0.0]) * size
        at = _fill_finite(off, raw, at)
        if at < 0:
            return -1
        (seen, ) = _U16.unpack_from(raw, at)
        visits = array("B", [0]) * size
        at = _fill(visits, raw, at + 2)
        if seen != size or max(visits) > CAP:
            return -1
        b.off, b.visits = off, visits
    else:
        if size != _NONE16 or not (kind == seasonality
                                   or (seasonality == "auto" and kind in ("auto", "none"))):
            return -1
        b.kind = kind
        (seen, ) = _U16.unpack_from(raw, at)
        at += 2 + (0 if seen == _NONE16 else seen)
    (size,) = _U32.unpack_from(raw, at)
    at += 4
    if size == _NONE32:
        b.warm = None
    elif at + 8 * size > len(raw):  # checked before anything is allocated
        return -1
    else:
        warm = array("d", [0.0]) * size
        at = _fill_finite(warm, raw, at)
        if at < 0:
            return -1
        b.warm = warm
    present = raw[at]
    at += 1
    if not present:
        if seasonality == "auto" and b.kind == "auto" and b.warm is None:
            b.race = SeasonRace(0.0, b.level)
        return at
    if seasonality != "auto":
        end = at + _RACE.size + 4 * _RACE_OFF + 8 * _RACE_STATS
        return end if end <= len(raw) else -1
    t0, t_last, has_last, daily_done = _RACE.unpack_from(raw, at)
    if t0 - t0 != 0.0 or (has_last and t_last - t_last != 0.0):
        return -1
    at += _RACE.size
    stats_at = at + 4 * _RACE_OFF
    end = stats_at + 8 * _RACE_STATS
    if not (_finite(raw, at, stats_at, 4) and _finite(raw, stats_at, end, 8)):
        return -1
    race = b.race = SeasonRace.packed(t0, raw[at:stats_at], raw[stats_at:end])
    if has_last:
        race.sampled(t_last)
    race.daily_done = daily_done > 0
    return end


class _Reader:
    __slots__ = ("at", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.at = 0

    def take(self, fmt: struct.Struct) -> tuple[Any, ...]:
        values = fmt.unpack_from(self.raw, self.at)
        self.at += fmt.size
        return values

    def count(self, fmt: str) -> int:
        (n,) = self.take(struct.Struct(fmt))
        return int(n)

    def array(self, typecode: str, n: int) -> list[Any]:
        out = array(typecode)
        end = self.at + n * out.itemsize
        if end > len(self.raw):
            raise SeriesStateError("anomaly series state: truncated")
        out.frombytes(self.raw[self.at:end])
        if not _LITTLE and out.itemsize > 1:
            out.byteswap()
        self.at = end
        return out.tolist()


def unpack(raw: bytes) -> dict[str, Any]:
    """The ``to_state`` dict packed in ``raw``; ``SeriesStateError`` if it is not one."""
    try:
        return _unpack(raw)
    except (struct.error, IndexError, KeyError, ValueError) as exc:
        raise SeriesStateError(f"anomaly series state: not a packed state ({exc})") from None


def _unpack(raw: bytes) -> dict[str, Any]:
    version = raw[:4]
    if version not in (MAGIC, MAGIC_V1):
        raise SeriesStateError("anomaly series state: unknown packed format")
    r = _Reader(raw)
    r.at = 4
    flags = raw[r.at]
    r.at += 1
    seen = _NO_SEEN if version == MAGIC_V1 else r.take(_SEEN)[0]
    streak = r.array("d", r.count("<H"))
    sign, burst, quiet = r.take(_HEAD)
    state: dict[str, Any] = {"streak": streak, "sign": sign, "burst": _BURST_NAMES[burst],
                             "quiet": quiet}
    if seen != _NO_SEEN:
        state["seen"] = seen
    if flags & _WINDOW:
        state["window"] = r.array("d", r.count("<I"))
    if flags & _BASELINE:
        if flags & _RUN:
            state["run"] = r.array("d", RUN)
            state["run_i"] = raw[r.at]
            r.at += 1
        state["baseline"] = _unpack_baseline(r)
        if flags & _STATS:
            state["stats"] = r.array("d", r.count("<B"))
            present, last = r.take(_LAST)
            state["last"] = last if present else None
    if r.at != len(raw):
        raise SeriesStateError("anomaly series state: bytes left after the packed state")
    return state


def _unpack_baseline(r: _Reader) -> dict[str, Any]:
    n, level, trend, var, quantum, counts, kind = r.take(_BASE)
    size = r.count("<H")
    off = None if size == _NONE16 else r.array("f", size)
    size = r.count("<H")
    visits = None if size == _NONE16 else r.array("B", size)
    size = r.count("<I")
    warm = None if size == _NONE32 else r.array("d", size)
    race: dict[str, Any] | None = None
    present = r.raw[r.at]
    r.at += 1
    if present:
        t0, t_last, has_last, daily_done = r.take(_RACE)
        race = {"t0": t0, "t_last": t_last if has_last else None,
                "daily_done": bool(daily_done), "off": r.array("f", _RACE_OFF),
                "stats": r.array("d", _RACE_STATS)}
    return {"n": n, "level": level, "trend": trend, "var": var, "quantum": quantum,
            "counts": bool(counts), "kind": _KINDS[kind], "off": off, "visits": visits,
            "warm": warm, "race": race}


__all__ = ["FIELD", "MAGIC", "MAGIC_V1", "decode", "encode", "pack", "restore", "unpack"]
