"""The ``telemetry`` section (metrics, traces, the operator API's port and token) and the
``scheduler`` section (how often every check is re-evaluated)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from dq_monitor.config.base import _Model
from dq_monitor.config.durations import PositiveDuration


class TelemetryConfig(_Model):
    http_port: int | None = Field(default=9464, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    otlp_endpoint: str | None = None
    service_name: str = "dq-monitor"
    #: FR-019: bearer token for the API's write endpoints (use ``${VAR}``). Without one, writes
    #: are allowed only while ``http_host`` is a loopback address.
    api_token: SecretStr | None = None


class SchedulerConfig(_Model):
    """NFR-001: every check is re-evaluated at least every ``sweep_interval`` (at most 1 minute)."""

    sweep_interval: PositiveDuration = Field(default="30s", le=60)  # type: ignore[assignment]
