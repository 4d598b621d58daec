"""dq-monitor's own events (``table_update``, ``metric``): the lean msgspec decoder of
``events`` behind the format Protocol.

The service binds ``decode_lean`` itself for native topics, one call per record with no list
around it (NFR-003); ``decode`` is the same acceptance in the Protocol's shape.
"""

from __future__ import annotations

from dq_monitor.config import Config
from dq_monitor.events import MetricFields, TableUpdate, decode_lean


class NativeFormat:
    """The spec's input events: one record, one observation."""

    name = "native"

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    #: The hot path: one record → one event, or ``MalformedEvent``.
    decode_one = staticmethod(decode_lean)

    def decode(self, raw: bytes, max_bytes: int) -> list[TableUpdate | MetricFields]:
        return [decode_lean(raw, max_bytes)]
