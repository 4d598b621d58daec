"""A client of the operator API (FR-019), as the ``alerts`` and ``silence`` commands use it.

The URL comes from ``--url``, else ``DQ_MONITOR_URL``, else the default telemetry address; the
bearer token for writes only from ``DQ_MONITOR_API_TOKEN`` (a token on the command line would
show in ``ps``). Every failure is an ``ApiClientError`` with one readable line.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from dq_monitor.acks import Ack
from dq_monitor.api.views import AlertsResponse, SilencesResponse
from dq_monitor.errors import DqMonitorError
from dq_monitor.silence import SilenceView

DEFAULT_URL = "http://127.0.0.1:9464"
URL_ENV = "DQ_MONITOR_URL"
TOKEN_ENV = "DQ_MONITOR_API_TOKEN"


class ApiClientError(DqMonitorError):
    """The operator API could not be reached or refused the request."""


class ApiClient:
    def __init__(self, url: str | None = None, *, token: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            response = httpx.request(method, f"{self.url}{path}", content=content,
                                     headers=headers, params=params, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise ApiClientError(f"cannot reach the operator API at {self.url} "
                                 f"({type(exc).__name__}: {exc}); is dq-monitor running "
                                 f"there? (--url or {URL_ENV})") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            reason = payload.get("error") if isinstance(payload, dict) else None
            hint = f" (set {TOKEN_ENV})" if response.status_code == 401 else ""
            raise ApiClientError(f"{method} {path}: {response.status_code} "
                                 f"{reason or response.reason_phrase}{hint}")
        if payload is None:
            raise ApiClientError(f"{method} {path}: the answer is not JSON; is {self.url} "
                                 "a dq-monitor telemetry port?")
        return payload

    def alerts(self) -> AlertsResponse:
        return AlertsResponse.model_validate(self._call("GET", "/api/v1/alerts"))

    def silences(self, *, expired: bool = False) -> SilencesResponse:
        params = {"expired": "true"} if expired else None
        return SilencesResponse.model_validate(self._call("GET", "/api/v1/silences",
                                                          params=params))

    def add_silence(self, request: dict[str, Any]) -> SilenceView:
        return SilenceView.model_validate(self._call("POST", "/api/v1/silences", request))

    def ack(self, fingerprint: str, request: dict[str, Any]) -> Ack:
        """FR-027: acknowledge a firing alert."""
        return Ack.model_validate(self._call(
            "POST", f"/api/v1/alerts/{quote(fingerprint, safe='')}/ack", request))

    def expire_silence(self, silence_id: str) -> SilenceView:
        return SilenceView.model_validate(self._call("DELETE",
                                                     f"/api/v1/silences/{silence_id}"))
