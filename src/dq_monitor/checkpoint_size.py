"""The largest changelog record an anomaly series can produce, known from the config alone.

NFR-008: a state record over the producer's ``max_request_size`` (or the brokers'
``message.max.bytes``) can never be written. The config is refused at load instead, by path,
when a configured series could grow that large: the bound counts every byte the codec of
``state.checkpoint`` may write (the rolling window, the robust warm-up values, the flagged
streak, the fixed parts) and the longest key a series of the source may have (its metric name
and the most tags an event may carry, within ``kafka.max_event_bytes``). A test holds it
against the codec's real output.

Plain arithmetic, no imports from the monitor core: the config loader (which the router loads
too) uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dq_monitor.events import MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS

#: Bytes a record costs beyond its key and value in a batch of its own (aiokafka's estimate is
#: 85 for an empty record; varints of long lengths add a few).
RECORD_OVERHEAD = 128
#: Magic, flags, last seen, streak count, sign, burst, quiet (the record's value is the packed
#: state itself).
_FIXED = 4 + 1 + 8 + 2 + 1 + 1 + 8
#: Rolling: the window's value count.
_WINDOW_HEAD = 4
#: Robust: the run (4 doubles and its index), the model (n, level, trend, var, quantum,
#: counts, kind), the largest seasonal offsets (168 float32) with their visits, the warm-up
#: count, the seasonality race (t0, t_last, two flags, 199 float32, 27 doubles), and the
#: deviation statistics (their count, ``anomaly.STATS`` doubles, the previous value and its
#: flag; 16 allowed for).
_ROBUST_FIXED = (4 * 8 + 1) + (8 + 4 * 8 + 2) + (2 + 168 * 4) + (2 + 168) + 4 + (
    1 + 8 + 8 + 2 + 199 * 4 + 27 * 8) + (1 + 16 * 8 + 1 + 8)
#: The longest tag part of a series name, ``{k=v,...}``, in UTF-8 (4 bytes a character).
_TAGS = 2 + MAX_TAGS * (4 * (MAX_TAG_KEY + MAX_TAG_VALUE) + 2)


@dataclass(frozen=True, slots=True)
class SeriesBound:
    """The bound and the term that dominates it (the option to name in an error)."""

    total: int
    #: ``window`` (rolling values), ``min_samples`` (robust warm-up) or ``rebaseline_after``.
    largest: str


def series_record_bound(*, source: str, metric: str, baseline: str, window: int,
                        min_samples: int, rebaseline_after: int,
                        max_event_bytes: int) -> SeriesBound:
    """Upper bound in bytes of the changelog record of one series of ``metric`` (its tags
    came in one event, so they are no longer than ``kafka.max_event_bytes`` either)."""
    streak = 8 * max(0, rebaseline_after - 1)
    if baseline == "rolling":
        values, name = 8 * window, "window"
        body = _WINDOW_HEAD + values
    else:
        values, name = 8 * max(0, min_samples - 1), "min_samples"
        body = _ROBUST_FIXED + values
    if streak > values:
        name = "rebaseline_after"
    packed = _FIXED + streak + body
    key = len("ser") + 2 + len(source.encode()) + len(metric.encode()) + min(_TAGS, max_event_bytes)
    return SeriesBound(RECORD_OVERHEAD + key + packed, name)
