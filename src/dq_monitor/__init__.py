"""dq-monitor: real-time data-quality checks on Kafka streams, with routed alerts.

The public API: the config loader, the wire models, the sans-I/O monitor core, and the Kafka
service and router that run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dq_monitor.config import Config, load_config, parse_config
from dq_monitor.errors import (
    BacktestError,
    ConfigError,
    DeliveryError,
    DqMonitorError,
    KafkaAccessError,
    MalformedEvent,
)
from dq_monitor.events import Alert, Metric, TableUpdate, decode_event

if TYPE_CHECKING:
    from dq_monitor.monitor import Emitted, Monitor, Outcome

#: The monitor core is imported on first use, so the router (``dq-monitor route``) does not
#: load it.
_LAZY = {"Emitted": "dq_monitor.monitor", "Monitor": "dq_monitor.monitor",
         "Outcome": "dq_monitor.monitor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dq_monitor' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Alert",
    "BacktestError",
    "Config",
    "ConfigError",
    "DeliveryError",
    "DqMonitorError",
    "Emitted",
    "KafkaAccessError",
    "MalformedEvent",
    "Metric",
    "Monitor",
    "Outcome",
    "TableUpdate",
    "__version__",
    "decode_event",
    "load_config",
    "parse_config",
]
