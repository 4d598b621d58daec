"""FR-019 operator API and status page, served on the telemetry port."""

from __future__ import annotations

from dq_monitor.api.exchange import Request, Response
from dq_monitor.api.firing import Firing, FiringView
from dq_monitor.api.operator import OperatorApi
from dq_monitor.api.server import HttpServer, Limits
from dq_monitor.api.views import (
    AlertsResponse,
    ApiError,
    FiringAlert,
    SilencesResponse,
    SourcesResponse,
)

__all__ = [
    "AlertsResponse",
    "ApiError",
    "Firing",
    "FiringAlert",
    "FiringView",
    "HttpServer",
    "Limits",
    "OperatorApi",
    "Request",
    "Response",
    "SilencesResponse",
    "SourcesResponse",
]
