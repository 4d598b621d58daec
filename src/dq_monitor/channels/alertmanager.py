"""Prometheus Alertmanager (FR-008): POST alerts to its v2 API, so teams keep their own routing,
grouping, inhibition and silences there.

Labels identify the alert as Alertmanager groups and silences it: ``alertname`` (``dq_<check>``),
``check``, ``source``, ``subject`` (when there is one), ``severity`` (``warning`` / ``critical``)
and the channel's static ``labels``; the source's own labels (FR-024) under them and ``owner``
when it has one. Annotations carry the readable text, the figures and the ``runbook_url``.
Alertmanager resolves an alert whose ``endsAt`` passes: a firing alert is sent with ``endsAt``
``resolve_timeout`` ahead (reminders, every ``dedup_window``, push it on), a resolved one with
``endsAt`` = the time it resolved. HTTP outcomes follow the shared status policy (FR-010).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import number, title
from dq_monitor.config import AlertmanagerChannel as AlertmanagerConfig
from dq_monitor.events import Alert, format_rfc3339

SEVERITY = {"FAIL": "critical", "WARN": "warning"}


def am_alert(alert: Alert, cfg: AlertmanagerConfig, now: datetime) -> dict[str, Any]:
    """One entry of the v2 ``POST /api/v2/alerts`` body."""
    labels = {
        **(alert.labels or {}),
        "alertname": f"dq_{alert.check}",
        "check": alert.check,
        "source": alert.source,
        "severity": SEVERITY[alert.severity],
        **cfg.labels,
    }
    if alert.owner is not None:
        labels["owner"] = alert.owner
    if alert.subject:
        labels["subject"] = alert.subject
    ends = alert.detected_at if alert.status == "resolved" else (
        now + timedelta(seconds=cfg.resolve_timeout))
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": title(alert),
            "description": alert.detail,
            "observed": number(alert.observed),
            "expected": number(alert.expected),
            "fingerprint": alert.fingerprint,
            "requirement": alert.requirement,
        },
        "startsAt": format_rfc3339(alert.event_time),
        "endsAt": format_rfc3339(ends),
    }
    if alert.runbook_url is not None:
        body["annotations"]["runbook_url"] = alert.runbook_url
    if cfg.generator_url:
        body["generatorURL"] = cfg.generator_url
    return body


class AlertmanagerChannel:
    def __init__(self, name: str, cfg: AlertmanagerConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http: httpx.AsyncClient = http.client(cfg.timeout, cfg.max_in_flight)
        self._url = cfg.url.get_secret_value().rstrip("/") + "/api/v2/alerts"
        self._headers = {k: v.get_secret_value() for k, v in cfg.headers.items()}
        self._hidden = list(self._headers.values())
        self._headers.setdefault("content-type", "application/json")

    @classmethod
    def from_config(cls, name: str, cfg: AlertmanagerConfig,
                    **_deps: object) -> AlertmanagerChannel:
        return cls(name, cfg)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        body = orjson.dumps([am_alert(alert, self.cfg, datetime.now(UTC))])
        await http.post(self.name, self._http, self._url, content=body, headers=self._headers,
                        secrets=self._hidden)

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"AlertmanagerChannel({self.name!r})"
