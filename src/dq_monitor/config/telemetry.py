"""The ``telemetry`` section (metrics, traces, the operator API's port and token) and the
``scheduler`` section (how often every check is re-evaluated)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from dq_monitor.config.base import _Model
from dq_monitor.config.durations import PositiveDuration

#: NFR-008: the shortest API token accepted; shorter ones can be guessed or are a mistake.
MIN_TOKEN = 16
_HOST_ENTRY = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$")


def _strong_token(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_TOKEN:  # the value itself is never shown
        raise ValueError(f"must be at least {MIN_TOKEN} characters (is the variable it comes "
                         "from set?); leave api_token out to allow writes on loopback only")
    return value


def _host_entry(value: str) -> str:
    if not _HOST_ENTRY.match(value):
        raise ValueError(f"{value!r} is not a host name or address with an optional :port")
    return value.lower()


class TelemetryConfig(_Model):
    http_port: int | None = Field(default=9464, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    otlp_endpoint: str | None = None
    service_name: str = "dq-monitor"
    #: FR-019: bearer token for the API's write endpoints (use ``${VAR}``). Without one, writes
    #: are allowed only while ``http_host`` is a loopback address. NFR-008: at least
    #: ``MIN_TOKEN`` characters, so an unset ``${VAR:-}`` cannot open the writes to anyone.
    api_token: Annotated[SecretStr, AfterValidator(_strong_token)] | None = None
    #: NFR-008: further ``Host`` names (``name`` or ``name:port``) that writes may be addressed
    #: to, e.g. the name a reverse proxy forwards; the bind address (and ``localhost`` on
    #: loopback) with the bound port are always allowed.
    allowed_hosts: list[Annotated[str, AfterValidator(_host_entry)]] = Field(
        default_factory=list)


class SchedulerConfig(_Model):
    """NFR-001: every check is re-evaluated at least every ``sweep_interval`` (at most 1 minute)."""

    sweep_interval: PositiveDuration = Field(default="30s", le=60)  # type: ignore[assignment]
