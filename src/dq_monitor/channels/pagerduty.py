"""PagerDuty Events API v2 (FR-008): trigger on firing, resolve on resolved, one incident per
alert fingerprint.

``dedup_key`` is the fingerprint, so a reminder (``repeat``) re-triggers the open incident
instead of opening another, and the recovery resolves it. The routing key is a secret: it is
sent in the body and kept out of every error. PagerDuty answers 202 when it accepts an event;
400 (an invalid event) is final; 429 and 5xx are retried by the shared policy (FR-010).
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import render_text, title
from dq_monitor.channels.grouped import Notification, group_text, group_title
from dq_monitor.config import PagerDutyChannel as PagerDutyConfig
from dq_monitor.events import Alert, format_rfc3339

SEVERITY = {"FAIL": "critical", "WARN": "warning"}


def pd_event(alert: Alert, routing_key: str, repeat: bool) -> dict[str, Any]:
    """The Events API v2 body for ``alert``."""
    if alert.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": alert.fingerprint}
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.fingerprint,
        "payload": {
            "summary": title(alert, repeat)[:1024],
            "source": alert.source,
            "severity": SEVERITY[alert.severity],
            "timestamp": format_rfc3339(alert.event_time),
            "component": alert.subject or alert.source,
            "class": alert.check,
            "custom_details": {
                "detail": alert.detail, "observed": alert.observed, "expected": alert.expected,
                "requirement": alert.requirement, "alert_id": alert.alert_id,
                "text": render_text(alert, repeat),
            },
        },
    }
    # FR-024: the owner and labels among the details, the runbook as a link
    details = event["payload"]["custom_details"]
    if alert.owner is not None:
        details["owner"] = alert.owner
    if alert.labels:
        details["labels"] = dict(alert.labels)
    if alert.runbook_url is not None:
        event["links"] = [{"href": alert.runbook_url, "text": "Runbook"}]
    return event


def pd_group_event(note: Notification, routing_key: str) -> dict[str, Any]:
    """FR-027: one incident per group, ``dedup_key`` = the group key: its first notification
    and updates trigger it (re-triggering the open incident), its resolution resolves it."""
    if note.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": note.group_key}
    first = note.alerts[0]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": note.group_key,
        "payload": {
            "summary": group_title(note)[:1024],
            "source": first.source,
            "severity": SEVERITY[note.severity()],
            "timestamp": format_rfc3339(min(a.event_time for a in note.alerts)),
            "class": "group",
            "custom_details": {
                "group": dict(note.values), "text": group_text(note),
                "alerts": [a.wire() for a in note.alerts],
            },
        },
    }
    links = sorted({a.runbook_url for a in note.alerts if a.runbook_url is not None})
    if links:
        event["links"] = [{"href": u, "text": "Runbook"} for u in links]
    return event


class PagerDutyChannel:
    def __init__(self, name: str, cfg: PagerDutyConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http: httpx.AsyncClient = http.client(cfg.timeout, cfg.max_in_flight)
        self._key = cfg.routing_key.get_secret_value()

    @classmethod
    def from_config(cls, name: str, cfg: PagerDutyConfig, **_deps: object) -> PagerDutyChannel:
        return cls(name, cfg)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        body = orjson.dumps(pd_event(alert, self._key, repeat))
        await http.post(self.name, self._http, self.cfg.url, content=body,
                        headers={"content-type": "application/json"}, secrets=[self._key])

    async def send_group(self, note: Notification) -> None:
        body = orjson.dumps(pd_group_event(note, self._key))
        await http.post(self.name, self._http, self.cfg.url, content=body,
                        headers={"content-type": "application/json"}, secrets=[self._key])

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"PagerDutyChannel({self.name!r})"
