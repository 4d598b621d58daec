"""A compact binary codec for checkpointed anomaly series (NFR-003, NFR-005, NFR-006).

A series' checkpoint used to be its ``SeriesState.to_state()`` dict as JSON: some 230 floats as
decimal text for a robust series racing its seasonal models. Here the same content is packed —
doubles as 8 bytes, the float32 seasonal offsets as 4, visit counts as 1 — and carried as
base64 in a one-field JSON object, ``{"bin": "..."}``, so the changelog record is still a JSON
object and every reader of the topic still gets one.

Decoding rebuilds exactly the dict ``to_state`` gives and hands it to
``SeriesState.from_state``: every check and every rule for a state saved under another config
(another baseline kind, another seasonality) is the one the JSON form has always had, and the
JSON form itself (records written before this codec) still restores. A record that does not
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
from typing import Any

from dq_monitor.checks.anomaly import RUN, STATS, SeriesState, SeriesStateError
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import Baseline

MAGIC = b"DQS\x02"
#: The version written before the last-seen instant was part of the state: still read.
MAGIC_V1 = b"DQS\x01"
#: The key of the JSON object that carries a binary series state.
FIELD = "bin"

_WINDOW, _BASELINE, _RUN, _STATS = 1, 2, 4, 8
_BURSTS: dict[str | None, int] = {None: 0, "WARN": 1, "FAIL": 2}
_BURST_NAMES = {code: name for name, code in _BURSTS.items()}
_KINDS = ("auto", "none", "hour_of_day", "day_of_week", "hour_of_week", "weekpart_hour")
_KIND_CODES = {kind: i for i, kind in enumerate(_KINDS)}
_NONE16, _NONE32 = 0xFFFF, 0xFFFFFFFF
_RACE_OFF, _RACE_STATS = 199, 27
_LITTLE = sys.byteorder == "little"

_HEAD = struct.Struct("<bBq")  # sign, burst, quiet
_SEEN = struct.Struct("<q")  # last seen, microseconds since the epoch
_NO_SEEN = -(2**63)
_BASE = struct.Struct("<qddddBB")  # n, level, trend, var, quantum, counts, kind
_RACE = struct.Struct("<ddBB")  # t0, t_last, t_last present, daily_done
_LAST = struct.Struct("<Bd")  # previous value present, previous value


def _raw(values: array[Any]) -> bytes:
    if _LITTLE:
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _doubles(values: array[float] | list[float]) -> bytes:
    return _raw(values if isinstance(values, array) else array("d", values))


def encode(state: SeriesState) -> dict[str, Any]:
    """The changelog value of one series: ``{"bin": base64 of the packed state}``."""
    return {FIELD: base64.b64encode(pack(state)).decode("ascii")}


def pack(state: SeriesState) -> bytes:
    """The packed state (see the module docstring for the layout)."""
    window, baseline, run = state.window, state.baseline, state.run
    robust = run is not None and baseline is not None
    flags = ((_WINDOW if window is not None else 0) | (_BASELINE if baseline is not None else 0)
             | (_RUN | _STATS if robust else 0))
    burst = None if state.burst is None else state.burst.value
    streak = state.streak if state.streak is not None else array("d")
    seen = state.seen_us()
    parts = [MAGIC, bytes((flags,)), _SEEN.pack(_NO_SEEN if seen is None else seen),
             struct.pack("<H", len(streak)),
             _raw(streak), _HEAD.pack(state.streak_sign, _BURSTS[burst], state.quiet)]
    if window is not None:
        values = window.values()
        parts += [struct.pack("<I", len(values)), _doubles(values)]
    if baseline is not None:
        assert run is not None
        parts += [_raw(run[:RUN]), bytes((state.run_i,))]
        parts.append(_pack_baseline(baseline))
        last = state.last
        parts += [bytes((STATS,)), _raw(run[RUN:]),
                  _LAST.pack(math.isfinite(last), last if math.isfinite(last) else 0.0)]
    return b"".join(parts)


def _pack_baseline(b: Baseline) -> bytes:
    parts = [_BASE.pack(b.n, b.level, b.trend, b.var, b.quantum, b.counts, _KIND_CODES[b.kind])]
    parts += ([struct.pack("<H", _NONE16)] if b.off is None
              else [struct.pack("<H", len(b.off)), _raw(b.off)])
    parts += ([struct.pack("<H", _NONE16)] if b.visits is None
              else [struct.pack("<H", len(b.visits)), b.visits.tobytes()])
    parts += ([struct.pack("<I", _NONE32)] if b.warm is None
              else [struct.pack("<I", len(b.warm)), _raw(b.warm)])
    race = b.race
    if race is None:
        parts.append(b"\x00")
    else:
        finite = math.isfinite(race.t_last)
        parts += [b"\x01", _RACE.pack(race.t0, race.t_last if finite else 0.0, finite,
                                      race.daily_done), _raw(race.off), _raw(race.stats)]
    return b"".join(parts)


def decode(value: dict[str, Any], cfg: AnomalyConfig) -> SeriesState:
    """Rebuild a series from its changelog value: the binary form or the older JSON form."""
    if FIELD not in value:
        return SeriesState.from_state(value, cfg)
    packed = value[FIELD]
    if not isinstance(packed, str):
        raise SeriesStateError(f"anomaly series state: {FIELD}: must be base64 text")
    try:
        raw = base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError):
        raise SeriesStateError(f"anomaly series state: {FIELD}: not base64") from None
    return SeriesState.from_state(unpack(raw), cfg)


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


__all__ = ["FIELD", "MAGIC", "MAGIC_V1", "decode", "encode", "pack", "unpack"]
