"""FR-028: observing a data topic directly, sans I/O.

``profile`` scans records into a window's profile; ``partition`` keeps one partition's open
windows and watermark; ``wire`` carries a partition's closed windows to the source's home;
``merge`` merges every partition's partials once per window; ``emit`` turns a merged window
into what the source's checks are fed.
"""

from dq_monitor.observe.emit import (
    MALFORMED_METRIC,
    RECORDS_METRIC,
    WindowObservation,
    observe_window,
)
from dq_monitor.observe.merge import SourceWindows
from dq_monitor.observe.partition import Closed, PartitionWindows
from dq_monitor.observe.profile import Profile, type_name

__all__ = [
    "MALFORMED_METRIC",
    "RECORDS_METRIC",
    "Closed",
    "PartitionWindows",
    "Profile",
    "SourceWindows",
    "WindowObservation",
    "observe_window",
    "type_name",
]
