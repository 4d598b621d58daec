"""Generic JSON webhook (FR-008): the alert payload, optionally signed with HMAC-SHA256.

The signature header carries ``sha256=<hex>`` over the exact body bytes, so a receiver verifies
it before parsing.
"""

from __future__ import annotations

import hashlib
import hmac

import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import alert_payload
from dq_monitor.config import WebhookChannel as WebhookConfig
from dq_monitor.events import Alert


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, name: str, cfg: WebhookConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http = http.client(cfg.timeout)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        body = orjson.dumps(alert_payload(alert, repeat))
        headers = {k: v.get_secret_value() for k, v in self.cfg.headers.items()}
        headers["content-type"] = "application/json"
        if self.cfg.secret is not None:
            headers[self.cfg.signature_header] = signature(self.cfg.secret.get_secret_value(),
                                                           body)
        await http.post(self.name, self._http, self.cfg.url.get_secret_value(), content=body,
                        headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()
