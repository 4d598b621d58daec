"""Input formats (FR-022): a Protocol (``base``), one module per format, and the registry.

Adding a format is one module implementing ``InputFormat`` and one line in ``FORMATS``.
"""

from __future__ import annotations

from dq_monitor.formats.base import FormatFactory, InputFormat, Observation, source_of
from dq_monitor.formats.native import NativeFormat
from dq_monitor.formats.observation import AssertionResult, DatasetObservation
from dq_monitor.formats.openlineage import OpenLineageFormat

#: Every input format by name (the name travels in the header of re-homed records).
FORMATS: dict[str, FormatFactory] = {
    NativeFormat.name: NativeFormat,
    OpenLineageFormat.name: OpenLineageFormat,
}

__all__ = [
    "FORMATS",
    "AssertionResult",
    "DatasetObservation",
    "FormatFactory",
    "InputFormat",
    "NativeFormat",
    "Observation",
    "OpenLineageFormat",
    "source_of",
]
