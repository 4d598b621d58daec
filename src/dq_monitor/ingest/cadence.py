"""When a checkpoint is due (NFR-003, NFR-004): on schedule, unless it would rewrite most series.

A checkpoint writes every piece of state that changed since the last one. With a few thousand
series that is a few thousand records a ``kafka.commit_interval``, nothing against the input
read meanwhile. With 100,000 series nearly every event changes a different one, so a checkpoint
a second re-encodes and sends almost one state record per input record, and that work grows
with the fleet. So a checkpoint that is due (``commit_interval`` elapsed, or
``commit_records`` read) but would write more than ``SMALL`` records waits until at least
``kafka.checkpoint_ratio`` input records were read per state record it writes: each series is
then written once for many of its values, and the cost per event stays flat. It never waits
past ``kafka.checkpoint_max_interval``, which bounds what a crash re-reads (NFR-004: offsets are
still committed only once the state that reflects them is durable).
"""

from __future__ import annotations

from dq_monitor.config import KafkaConfig

#: A checkpoint of at most this many state records is written on schedule, never postponed
#: (at some ten microseconds a record it costs a few milliseconds).
SMALL = 500


def checkpoint_due(kafka: KafkaConfig, elapsed: float, read: int, changed: int) -> bool:
    """Whether to checkpoint now: ``elapsed`` seconds and ``read`` input records since the last
    checkpoint, which would write ``changed`` state records."""
    if elapsed < kafka.commit_interval and read < kafka.commit_records:
        return False
    if changed <= SMALL or kafka.checkpoint_ratio == 0:
        return True
    return read >= kafka.checkpoint_ratio * changed or elapsed >= kafka.checkpoint_max_interval
