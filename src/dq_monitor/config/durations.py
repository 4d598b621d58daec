"""Durations in the configuration file: ``'500ms' | '30s' | '5m' | '1.5h'``, bounded, as seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"


#: Durations already parsed: a large file spells the same few thousands of times.
_PARSED: dict[str, float] = {}


def parse_duration(value: object) -> float:
    """``'500ms' | '30s' | '5m' | '1.5h'`` → seconds; bare numbers (but 0) are refused."""
    if value.__class__ is str:
        seconds = _PARSED.get(value)
        if seconds is not None:
            return seconds
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if not isinstance(value, str):
        raise ValueError("must be a duration string such as '30s' or '5m' (units ms, s, m, h)")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"invalid duration {value!r}: use a number and one of ms, s, m, h")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if len(_PARSED) < 1024:
        _PARSED[value] = seconds
    return seconds


#: The longest duration accepted anywhere (a leap year): longer ones are typos, and far-future
#: deadlines would overflow date arithmetic.
MAX_DURATION_S = 366 * 86400.0


def _bounded(seconds: float) -> float:
    if seconds > MAX_DURATION_S:
        raise ValueError(f"too long: at most {MAX_DURATION_S / 3600:g}h")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def _duration(value: object) -> float:
    """A bounded duration: parsed and checked in one call (a file of 10,000 sources has
    200,000 of them, most of them defaults, validated at every start)."""
    return _bounded(parse_duration(value))


def _positive_duration(value: object) -> float:
    return _positive(_bounded(parse_duration(value)))


#: A duration that may be 0 (``for: 0s`` means at once).
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN}),
]
#: A duration for which 0 makes no sense (a timeout, an interval, a window).
PositiveDuration = Annotated[
    float,
    BeforeValidator(_positive_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN}),
]
