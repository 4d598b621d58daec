"""Slack incoming webhook (FR-008): a colour-coded attachment with the facts and the detail.

``text`` is the fallback Slack shows in notifications and to clients without Block Kit; the
attachment carries the colour bar (red FAIL, amber WARN, green resolved) and the blocks.
NFR-008: every piece of alert text goes into a Slack text field through ``escape.mrkdwn``, so
a tag value such as ``<!channel>`` arrives as text, never as a mention or a link; only the header
is a ``plain_text`` object, which Slack shows as written.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from dq_monitor.channels import http
from dq_monitor.channels.base import COLOURS, colour, fields, title
from dq_monitor.channels.grouped import Notification, alert_line, group_title
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.escape import mrkdwn
from dq_monitor.events import Alert

#: Slack's limits: header text 150 characters, section text 3000, at most 10 section fields.
_HEADER_MAX, _TEXT_MAX, _FIELDS_MAX = 150, 3000, 10


def slack_message(alert: Alert, repeat: bool, cfg: SlackConfig) -> dict[str, Any]:
    """The webhook JSON body; ``channel``/``username`` overrides only when configured."""
    head = title(alert, repeat)
    summary = _cut(f"{mrkdwn(head)}: {mrkdwn(alert.detail)}", _TEXT_MAX)
    facts = [{"type": "mrkdwn", "text": f"*{k}*\n{mrkdwn(v)}"} for k, v in fields(alert)[:8]]
    message: dict[str, Any] = {
        "text": summary,
        "attachments": [{
            "color": colour(alert),
            "fallback": summary,
            "blocks": [
                {"type": "header",
                 "text": {"type": "plain_text", "text": head[:_HEADER_MAX]}},
                {"type": "section",
                 "text": {"type": "mrkdwn",
                          "text": _cut(mrkdwn(alert.detail), _TEXT_MAX) or "—"}},
                {"type": "section", "fields": facts[:_FIELDS_MAX]},
                *_runbook(alert),
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": f"fingerprint `{mrkdwn(alert.fingerprint)}`"
                                               + (" · reminder" if repeat else "")}]},
            ],
        }],
    }
    if cfg.channel:
        message["channel"] = cfg.channel
    if cfg.username:
        message["username"] = cfg.username
    return message


def slack_group_message(note: Notification, cfg: SlackConfig) -> dict[str, Any]:
    """FR-027: one message for a group's notification, a line per alert (each escaped like
    every alert text), coloured by the group's state."""
    head = group_title(note)
    lines = [f"• {mrkdwn(alert_line(a, note.notes.get(a.fingerprint)))}" for a in note.alerts]
    body = _cut("\n".join(lines), _TEXT_MAX) or "—"
    links = sorted({a.runbook_url for a in note.alerts if a.runbook_url is not None})
    extra = [{"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(
        f"<{mrkdwn(u).replace('|', '%7C')}|Runbook>" for u in links)}}] if links else []
    fallback = _cut(f"{mrkdwn(head)}\n{body}", _TEXT_MAX)
    message: dict[str, Any] = {
        "text": fallback,
        "attachments": [{
            "color": COLOURS["resolved"] if note.status == "resolved"
            else COLOURS[note.severity()],
            "fallback": fallback,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": head[:_HEADER_MAX]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body}},
                *extra,
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": f"group `{mrkdwn(note.group_key)}`"
                                               + (" · reminder" if note.repeat else "")}]},
            ],
        }],
    }
    if cfg.channel:
        message["channel"] = cfg.channel
    if cfg.username:
        message["username"] = cfg.username
    return message


def _runbook(alert: Alert) -> list[dict[str, Any]]:
    """FR-024: the source's owner and its runbook as a link (the URL was checked to be
    http(s) with no space, ``<``, ``>`` or ``|`` when the config was loaded; it is escaped
    again here, so it can end the link nowhere but where it ends)."""
    parts = []
    if alert.owner is not None:
        parts.append(f"*Owner* {mrkdwn(alert.owner)}")
    if alert.runbook_url is not None:
        url = mrkdwn(alert.runbook_url).replace("|", "%7C")
        parts.append(f"<{url}|Runbook>")
    if not parts:
        return []
    return [{"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(parts)}}]


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, never ending inside an entity such as ``&lt;``
    (a cut one would show as a stray ``&l``)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&", max(0, limit - 4))
    return cut[:amp] if amp != -1 and ";" not in cut[amp:] else cut


class SlackChannel:
    def __init__(self, name: str, cfg: SlackConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._http: httpx.AsyncClient = http.client(cfg.timeout, cfg.max_in_flight)

    @classmethod
    def from_config(cls, name: str, cfg: SlackConfig, **_deps: object) -> SlackChannel:
        return cls(name, cfg)

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        body = orjson.dumps(slack_message(alert, repeat, self.cfg))
        await http.post(self.name, self._http, self.cfg.webhook_url.get_secret_value(),
                        content=body, headers={"content-type": "application/json"})

    async def send_group(self, note: Notification) -> None:
        body = orjson.dumps(slack_group_message(note, self.cfg))
        await http.post(self.name, self._http, self.cfg.webhook_url.get_secret_value(),
                        content=body, headers={"content-type": "application/json"})

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"SlackChannel({self.name!r})"
