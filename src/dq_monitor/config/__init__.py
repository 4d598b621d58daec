"""The configuration file (FR-011): YAML → validated model, before anything starts.

Three passes, all of whose errors are reported together by path (``sources[2].anomaly.window``):
``${VAR}`` / ``${VAR:-default}`` expansion, schema validation (pydantic), then cross-checks that
relate fields (routes name existing channels, warn thresholds below fail thresholds, ...). The
cross-checks run on the raw document, so they still report when an unrelated field is invalid.
Secret fields are ``SecretStr``: they never appear in a repr, a log line or an error message.

A module per section holds its models beside their cross-checks (``kafka``, ``sources``,
``checks``, ``routing``, ``channels``, ``telemetry``, ``observe``); ``durations`` and ``base``
are shared by all, ``root`` is the whole file, ``expand`` and ``load`` read it. Import from
this package.
"""

from dq_monitor.config.base import path_str
from dq_monitor.config.channels import (
    CHANNEL_TYPES,
    AlertmanagerChannel,
    ChannelConfig,
    EmailChannel,
    KafkaChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from dq_monitor.config.checks import (
    SENSITIVITY,
    THRESHOLD_BOUNDS,
    AnomalyConfig,
    ColumnRule,
    CompletenessConfig,
    Damping,
    FreshnessConfig,
    ThresholdRule,
)
from dq_monitor.config.durations import MAX_DURATION_S, Duration, PositiveDuration, parse_duration
from dq_monitor.config.expand import expand_env
from dq_monitor.config.kafka import (
    DEFAULT_MAX_REQUEST_SIZE,
    SECURITY_FIELDS,
    KafkaConfig,
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
)
from dq_monitor.config.load import load_config, parse_config, read_config
from dq_monitor.config.observe import ObserveConfig
from dq_monitor.config.openlineage import (
    AssertionCheckConfig,
    OpenLineageConfig,
    RunCheckConfig,
    SchemaCheckConfig,
)
from dq_monitor.config.root import Config, config_schema
from dq_monitor.config.routing import (
    GROUP_FIELDS,
    AlertField,
    CheckKind,
    InhibitRule,
    Match,
    MuteWindowConfig,
    RetryConfig,
    Route,
    RoutingConfig,
    SeverityName,
    StatusName,
    TimeSpan,
    Weekday,
    valid_field,
)
from dq_monitor.config.sources import (
    DEFAULT_MAX_SOURCES,
    SourceCatalog,
    SourceConfig,
    source_capacity,
)
from dq_monitor.config.telemetry import SchedulerConfig, TelemetryConfig

__all__ = [
    "CHANNEL_TYPES",
    "DEFAULT_MAX_REQUEST_SIZE",
    "DEFAULT_MAX_SOURCES",
    "GROUP_FIELDS",
    "MAX_DURATION_S",
    "SECURITY_FIELDS",
    "SENSITIVITY",
    "THRESHOLD_BOUNDS",
    "AlertField",
    "AlertmanagerChannel",
    "AnomalyConfig",
    "AssertionCheckConfig",
    "ChannelConfig",
    "CheckKind",
    "ColumnRule",
    "CompletenessConfig",
    "Config",
    "Damping",
    "Duration",
    "EmailChannel",
    "FreshnessConfig",
    "InhibitRule",
    "KafkaChannel",
    "KafkaConfig",
    "KafkaSecurity",
    "Match",
    "MuteWindowConfig",
    "ObserveConfig",
    "OpenLineageConfig",
    "PagerDutyChannel",
    "PositiveDuration",
    "RetryConfig",
    "Route",
    "RoutingConfig",
    "RunCheckConfig",
    "SaslMechanism",
    "SchedulerConfig",
    "SchemaCheckConfig",
    "SecurityProtocol",
    "SeverityName",
    "SlackChannel",
    "SourceCatalog",
    "SourceConfig",
    "StatusName",
    "TelemetryConfig",
    "ThresholdRule",
    "TimeSpan",
    "WebhookChannel",
    "Weekday",
    "config_schema",
    "expand_env",
    "load_config",
    "parse_config",
    "parse_duration",
    "path_str",
    "read_config",
    "source_capacity",
    "valid_field",
]
