"""Slack incoming webhook (FR-008): a colour-coded message with the facts and the detail."""

from __future__ import annotations

from typing import Any

import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import fields, title
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.events import Alert

COLOURS = {"FAIL": "#d32f2f", "WARN": "#f9a825", "resolved": "#2e7d32"}


def slack_message(alert: Alert, repeat: bool, cfg: SlackConfig) -> dict[str, Any]:
    colour = COLOURS["resolved"] if alert.status == "resolved" else COLOURS[alert.severity]
    facts = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields(alert)[:8]]
    message: dict[str, Any] = {
        "text": f"{title(alert, repeat)}: {alert.detail}",
        "attachments": [{
            "color": colour,
            "blocks": [
                {"type": "header",
                 "text": {"type": "plain_text", "text": title(alert, repeat)[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": alert.detail}},
                {"type": "section", "fields": facts},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": f"fingerprint `{alert.fingerprint}`"}]},
            ],
        }],
    }
    if cfg.channel:
        message["channel"] = cfg.channel
    if cfg.username:
        message["username"] = cfg.username
    return message


class SlackChannel:
    def __init__(self, name: str, cfg: SlackConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http = http.client(cfg.timeout)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        body = orjson.dumps(slack_message(alert, repeat, self.cfg))
        await http.post(self.name, self._http, self.cfg.webhook_url.get_secret_value(),
                        content=body, headers={"content-type": "application/json"})

    async def aclose(self) -> None:
        await self._http.aclose()
