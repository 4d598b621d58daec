"""Generic JSON webhook (FR-008): the alert payload, optionally signed with HMAC-SHA256.

The body is the alert event plus ``repeat``. With ``secret`` set, ``signature_header`` carries
``sha256=<hex>`` of HMAC-SHA256 over the exact body bytes, so a receiver verifies before it
parses. The URL, header values and the secret are all secrets: none reaches an error message.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import alert_payload
from dq_monitor.channels.grouped import Notification
from dq_monitor.config import WebhookChannel as WebhookConfig
from dq_monitor.events import Alert


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, name: str, cfg: WebhookConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http: httpx.AsyncClient = http.client(cfg.timeout, cfg.max_in_flight)
        self._headers = {k: v.get_secret_value() for k, v in cfg.headers.items()}
        self._hidden = list(self._headers.values())
        if not any(k.lower() == "content-type" for k in self._headers):
            self._headers["content-type"] = "application/json"
        self._secret: bytes | None = None
        if cfg.secret is not None:
            self._hidden.append(cfg.secret.get_secret_value())
            self._secret = cfg.secret.get_secret_value().encode()

    @classmethod
    def from_config(cls, name: str, cfg: WebhookConfig, **_deps: object) -> WebhookChannel:
        return cls(name, cfg)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        await self._post(orjson.dumps(alert_payload(alert, repeat)))

    async def send_group(self, note: Notification) -> None:
        """FR-027: one ``{"group_key", "status", "alerts"}`` body per group notification."""
        await self._post(orjson.dumps(note.wire()))

    async def _post(self, body: bytes) -> None:
        headers = dict(self._headers)
        if self._secret is not None:
            headers[self.cfg.signature_header] = signature(self._secret, body)
        await http.post(self.name, self._http, self.cfg.url.get_secret_value(), content=body,
                        headers=headers, secrets=self._hidden)

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r})"
