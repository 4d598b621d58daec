"""FR-028: the profile of one window's records, and the per-record scan that builds it.

A ``Profile`` is what one partition saw of one window (a partial) or, merged, what the whole
topic saw. The scan is one ``orjson.loads`` and a dictionary walk of the named fields; no model
is built per record. Profiles merge by addition (counts, sums), maximum and minimum, so the
merge of the partials of every partition is the profile of the whole window, in any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

#: JSON types as bits, so the types a field took in a window are one integer.
TYPE_BITS: dict[type, int] = {str: 1, float: 2, int: 4, bool: 8, dict: 16, list: 32,
                              type(None): 64}
TYPE_NAMES = ("string", "number", "integer", "boolean", "object", "array", "null")
_NULL, _NUMERIC = 64, 2 | 4
#: Fields a window profiles when ``fields`` is not given (every top-level field): more are
#: counted in ``Profile.fields_dropped``, never tracked (a record is input we do not control).
MAX_TOP_FIELDS = 256
#: Longest top-level field name profiled (longer names are dropped like fields past the cap).
MAX_FIELD_NAME = 256
_MISSING = object()
#: Numbers past this magnitude are not summed (the metrics stay finite; the type still counts).
MAX_NUMBER = 1e150


def sampled(offset: int, sample: float) -> bool:
    """Whether the record at ``offset`` is profiled: a fixed hash of the offset, so a window
    aggregated again after a restart profiles the same records."""
    if sample >= 1.0:
        return True
    return ((offset * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) < sample * 2.0**64


def type_name(bits: int) -> str:
    """The schema type of a field that took the JSON types ``bits`` in a window: its non-null
    type (``number`` for a mix of integers and fractions), ``null`` when it was always null,
    several joined by ``|``."""
    present = bits & ~_NULL
    if not present:
        return "null"
    if present & _NUMERIC == _NUMERIC:
        present = (present & ~_NUMERIC) | 2
    return "|".join(name for i, name in enumerate(TYPE_NAMES) if present & (1 << i))


@dataclass(slots=True)
class Profile:
    """One window's records (of one partition, or merged)."""

    #: Records that were JSON objects, and records that were not.
    records: int = 0
    malformed: int = 0
    #: Records profiled (``sample``): null counts and types are over these.
    profiled: int = 0
    #: Newest record time (Kafka timestamp, ms), malformed records included.
    newest_ms: int = 0
    #: Smallest input offset of the window's records in its partition (a partial only): a
    #: partial re-aggregated from a later offset saw only part of the window.
    first_offset: int = -1
    #: Per field: profiled records where it was present and not null.
    filled: dict[str, int] = field(default_factory=dict)
    #: Per field: the JSON types it took (``TYPE_BITS``).
    types: dict[str, int] = field(default_factory=dict)
    #: Per numeric field: [count, sum, min, max].
    numbers: dict[str, list[float]] = field(default_factory=dict)
    fields_dropped: int = 0
    #: The first malformed record: [partition, offset, reason].
    bad: list[Any] | None = None

    def add(self, raw: bytes | None, ts_ms: int, offset: int, partition: int,
            fields: tuple[tuple[str, tuple[str, ...]], ...] | None, profile: bool) -> None:
        """Count one record; profile it when ``profile`` (its fields: null, type, number)."""
        if ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
        if self.first_offset < 0 or offset < self.first_offset:
            self.first_offset = offset
        try:
            obj = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError as exc:
            self._malformed(partition, offset, f"not JSON ({exc})")
            return
        if type(obj) is not dict:
            self._malformed(partition, offset, "not a JSON object" if raw is not None
                            else "empty record (no value)")
            return
        self.records += 1
        if not profile:
            return
        self.profiled += 1
        filled, types = self.filled, self.types
        if fields is None:
            for name, value in obj.items():
                if name not in types and (len(types) >= MAX_TOP_FIELDS
                                          or len(name) > MAX_FIELD_NAME or not name
                                          or not name.isprintable()):
                    self.fields_dropped += 1
                    continue
                self._value(name, value, filled, types)
            return
        for name, path in fields:
            if len(path) == 1:
                value = obj.get(name, _MISSING)
            else:
                value = obj
                for part in path:
                    if type(value) is not dict:
                        value = _MISSING
                        break
                    value = value.get(part, _MISSING)
            if value is _MISSING:
                continue
            self._value(name, value, filled, types)

    def _value(self, name: str, value: Any, filled: dict[str, int],
               types: dict[str, int]) -> None:
        kind = type(value)
        types[name] = types.get(name, 0) | TYPE_BITS.get(kind, 0)
        if value is None:
            return
        filled[name] = filled.get(name, 0) + 1
        if (kind is int or kind is float) and -MAX_NUMBER <= value <= MAX_NUMBER:
            stats = self.numbers.get(name)
            x = float(value)
            if stats is None:
                self.numbers[name] = [1.0, x, x, x]
            else:
                stats[0] += 1.0
                stats[1] += x
                if x < stats[2]:
                    stats[2] = x
                if x > stats[3]:
                    stats[3] = x

    def _malformed(self, partition: int, offset: int, reason: str) -> None:
        self.malformed += 1
        if self.bad is None:
            self.bad = [partition, offset, reason[:300]]

    def merge(self, other: Profile) -> None:
        """Add ``other`` (a partial of another partition of the same window) into this one."""
        self.records += other.records
        self.malformed += other.malformed
        self.profiled += other.profiled
        self.newest_ms = max(self.newest_ms, other.newest_ms)
        self.fields_dropped += other.fields_dropped
        for name, n in other.filled.items():
            self.filled[name] = self.filled.get(name, 0) + n
        for name, bits in other.types.items():
            self.types[name] = self.types.get(name, 0) | bits
        for name, (count, total, low, high) in other.numbers.items():
            mine = self.numbers.get(name)
            if mine is None:
                self.numbers[name] = [count, total, low, high]
            else:
                mine[0] += count
                mine[1] += total
                mine[2] = min(mine[2], low)
                mine[3] = max(mine[3], high)
        if self.bad is None or (other.bad is not None and other.bad < self.bad):
            self.bad = other.bad

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "malformed": self.malformed, "profiled": self.profiled,
                "newest_ms": self.newest_ms, "first_offset": self.first_offset,
                "filled": self.filled, "types": self.types, "numbers": self.numbers,
                "fields_dropped": self.fields_dropped, "bad": self.bad}

    @classmethod
    def from_json(cls, value: Any) -> Profile:
        """A profile read back (a partial record or a checkpoint); raises ``ValueError`` on
        anything but what ``to_json`` writes, so a damaged record is refused whole."""
        if not isinstance(value, dict):
            raise ValueError("a profile is an object")
        counts = [value.get(k) for k in ("records", "malformed", "profiled", "newest_ms",
                                         "first_offset", "fields_dropped")]
        if not all(type(c) is int for c in counts):
            raise ValueError("a profile's counts are integers")
        filled, types, numbers = value.get("filled"), value.get("types"), value.get("numbers")
        bad = value.get("bad")
        if not (isinstance(filled, dict) and all(type(n) is int for n in filled.values())
                and isinstance(types, dict) and all(type(n) is int for n in types.values())
                and isinstance(numbers, dict) and all(
                    isinstance(s, list) and len(s) == 4
                    and all(type(x) in (int, float) and math.isfinite(x) for x in s)
                    for s in numbers.values())
                and (bad is None or (isinstance(bad, list) and len(bad) == 3))):
            raise ValueError("a profile's fields are malformed")
        records, malformed, profiled, newest, first, dropped = (int(c or 0) for c in counts)
        return cls(records, malformed, profiled, newest, first, dict(filled), dict(types),
                   {k: [float(x) for x in s] for k, s in numbers.items()}, dropped, bad)


def parse_fields(paths: list[str] | None) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """``observe.fields`` as (name, path parts) pairs, split once."""
    if paths is None:
        return None
    return tuple((p, tuple(p.split("."))) for p in paths)
