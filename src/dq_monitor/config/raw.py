"""Readers of the raw (expanded, not yet validated) document for the cross-checks: each gives
``None`` or an empty container where a field is absent or unreadable, so a check that cannot
read its fields stays silent and schema validation reports the field instead."""

from __future__ import annotations

from typing import Any

from dq_monitor.config.durations import parse_duration


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _seconds(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _int_or(value: Any, default: int) -> int | None:
    if value is None:
        return default
    return value if isinstance(value, int) and not isinstance(value, bool) else None
