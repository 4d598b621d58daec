"""In-memory state: rolling windows and what the monitor remembers per source."""

from __future__ import annotations

from dq_monitor.state.sources import SourceState, Watch
from dq_monitor.state.window import RollingWindow

__all__ = ["RollingWindow", "SourceState", "Watch"]
