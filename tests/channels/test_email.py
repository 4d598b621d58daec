"""SMTP email against a real aiosmtpd server: plain, STARTTLS with AUTH, 4xx and 5xx."""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from dq_monitor.channels.email import EmailChannel
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from tests.servers import smtp_server


def channel(port: int, **kw: Any) -> EmailChannel:
    return EmailChannel("oncall-email", EmailConfig.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "from": "dq@example.com",
        "to": ["oncall@example.com"], "timeout": "5s", **kw}))


def parts(envelope: Any) -> tuple[Message, dict[str, str]]:
    msg = email.message_from_bytes(envelope.content)
    bodies = {}
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            bodies[part.get_content_type()] = payload.decode()
    return msg, bodies


@pytest.mark.req("FR-008")
async def test_plain_smtp_with_text_and_html_parts(alert: Alert) -> None:
    with smtp_server() as (port, received):
        await channel(port).send(alert, repeat=False)
    msg, bodies = parts(received[0])
    assert msg["Subject"] == "[FAIL] completeness warehouse.orders customer_id"
    assert received[0].rcpt_tos == ["oncall@example.com"]
    assert set(bodies) == {"text/plain", "text/html"}
    for fact in ("warehouse.orders", "customer_id", "0.25", "0.01", alert.detail):
        assert fact in bodies["text/plain"]
    assert "<table>" in bodies["text/html"]


@pytest.mark.req("FR-008")
async def test_starttls_with_auth(alert: Alert, self_signed: tuple[Path, Path]) -> None:
    with smtp_server(tls_cert=self_signed, auth=("dq", "pw-123")) as (port, received):
        ch = channel(port, starttls=True, username="dq", password="pw-123",
                     ca_file=str(self_signed[0]))
        await ch.send(alert, repeat=False)
        bad = channel(port, starttls=True, username="dq", password="wrong",
                      ca_file=str(self_signed[0]))
        with pytest.raises(DeliveryError) as info:
            await bad.send(alert, repeat=False)
    assert len(received) == 1
    assert "wrong" not in str(info.value)


@pytest.mark.req("FR-010")
@pytest.mark.parametrize(("reply", "retryable"), [("554 rejected", False),
                                                   ("451 try later", True)])
async def test_smtp_5xx_is_final_and_4xx_retryable(alert: Alert, reply: str,
                                                   retryable: bool) -> None:
    with smtp_server(reply=reply) as (port, _), pytest.raises(DeliveryError) as info:
        await channel(port).send(alert, repeat=False)
    assert info.value.retryable is retryable
    assert reply.split()[0] in info.value.reason
