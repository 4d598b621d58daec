"""FR-018 silences: the model, the set every instance folds from the silences topic, its tail."""

from __future__ import annotations

from dq_monitor.silence.model import Matchers, Silence, SilenceRequest, SilenceState, SilenceView
from dq_monitor.silence.store import SilenceSet
from dq_monitor.silence.tail import SilenceBook

__all__ = [
    "Matchers",
    "Silence",
    "SilenceBook",
    "SilenceRequest",
    "SilenceSet",
    "SilenceState",
    "SilenceView",
]
