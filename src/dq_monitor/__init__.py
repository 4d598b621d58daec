"""dq-monitor: real-time data-quality checks on Kafka streams, with routed alerts.

The public API: the config loader, the wire models, the sans-I/O monitor core, and the Kafka
service and router that run it.
"""

from __future__ import annotations

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
from dq_monitor.monitor import Emitted, Monitor, Outcome

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
