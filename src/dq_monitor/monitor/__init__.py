"""The monitor core, sans I/O: the event dispatcher, the alert judge and state, the scheduler.

``dispatch`` routes each decoded event to its checks; ``core.Monitor`` judges verdicts against
the alert machines, owns per-partition state and its checkpoints; ``scheduler`` keeps the
deadlines and the sweep. Nothing here does I/O or reads a clock: ``now`` is passed in.
"""

from dq_monitor.monitor.core import Monitor, partition_for
from dq_monitor.monitor.dispatch import ROW_COUNT_METRIC, SEP, EventDispatcher, watch_key
from dq_monitor.monitor.outcome import Emitted, Outcome
from dq_monitor.monitor.scheduler import Deadline, Scheduler

__all__ = ["ROW_COUNT_METRIC", "SEP", "Deadline", "Emitted", "EventDispatcher", "Monitor",
           "Outcome", "Scheduler", "partition_for", "watch_key"]
