"""SMTP email against a real aiosmtpd server: parts, STARTTLS, implicit TLS, AUTH, 4xx vs 5xx."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from typing import Any

import pytest

from dq_monitor.channels.email import EmailChannel
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.testing import Certificate, make_alert
from tests.channels.conftest import SmtpFactory

PASSWORD = "pw-Secret-123"


def channel(port: int, **kw: Any) -> EmailChannel:
    return EmailChannel("oncall-email", EmailConfig.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "from": "dq@example.com",
        "to": ["oncall@example.com", "lead@example.com"], "timeout": "5s", **kw}))


def parse(envelope: Any) -> tuple[Message, dict[str, str]]:
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    bodies = {}
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            bodies[part.get_content_type()] = payload.decode()
    return msg, bodies


@pytest.mark.req("FR-008")
async def test_plain_smtp_sends_text_and_html_parts(smtp: SmtpFactory, alert: Alert) -> None:
    with smtp() as server:
        await channel(server.port).send(alert, repeat=False)
    (envelope,) = server.received
    msg, bodies = parse(envelope)
    assert msg["Subject"] == "[FAIL] completeness warehouse.orders customer_id"
    assert msg.get_content_type() == "multipart/alternative"
    assert envelope.mail_from == "dq@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    assert list(bodies) == ["text/plain", "text/html"]
    for body in bodies.values():
        for fact in ("FAIL", "completeness", "warehouse.orders", "customer_id", "0.25", "0.01",
                     alert.detail):
            assert fact in body
    assert "#d32f2f" in bodies["text/html"]  # red for FAIL
    assert msg["X-DQ-Fingerprint"] == alert.fingerprint


@pytest.mark.req("FR-008", "FR-009")
async def test_reminder_and_recovery_subjects(smtp: SmtpFactory) -> None:
    with smtp() as server:
        ch = channel(server.port)
        await ch.send(make_alert(severity="WARN"), repeat=True)
        await ch.send(make_alert(status="resolved"), repeat=False)
    subjects = [parse(e)[0]["Subject"] for e in server.received]
    assert subjects == [
        "REMINDER [WARN] completeness warehouse.orders customer_id",
        "RESOLVED [FAIL] completeness warehouse.orders customer_id",
    ]


@pytest.mark.req("FR-008")
async def test_starttls_with_auth_and_a_private_ca(smtp: SmtpFactory, certificate: Certificate,
                                                  alert: Alert) -> None:
    with smtp(starttls=certificate, auth=("dq", PASSWORD)) as server:
        ok = channel(server.port, starttls=True, username="dq", password=PASSWORD,
                     ca_file=str(certificate.cert))
        await ok.send(alert, repeat=False)
        wrong = channel(server.port, starttls=True, username="dq", password="wrong-Secret",
                        ca_file=str(certificate.cert))
        with pytest.raises(DeliveryError) as info:
            await wrong.send(alert, repeat=False)
    assert len(server.received) == 1 and server.logins == ["dq"]
    assert not info.value.retryable and info.value.reason.startswith("SMTP 535")
    assert "wrong-Secret" not in str(info.value)


@pytest.mark.req("FR-008")
async def test_untrusted_certificate_is_refused_unless_verification_is_off(
    smtp: SmtpFactory, certificate: Certificate, alert: Alert
) -> None:
    with smtp(starttls=certificate) as server:
        with pytest.raises(DeliveryError) as info:
            await channel(server.port, starttls=True).send(alert, repeat=False)
        await channel(server.port, starttls=True, verify_tls=False).send(alert, repeat=False)
    assert info.value.retryable and "certificate" in info.value.reason
    assert len(server.received) == 1


@pytest.mark.req("FR-008")
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is all TLS
async def test_implicit_tls_with_auth(smtp: SmtpFactory, certificate: Certificate,
                                      alert: Alert) -> None:
    with smtp(implicit_tls=certificate, auth=("dq", PASSWORD)) as server:
        await channel(server.port, tls=True, username="dq", password=PASSWORD,
                      ca_file=str(certificate.cert)).send(alert, repeat=False)
    assert len(server.received) == 1 and server.logins == ["dq"]


@pytest.mark.req("FR-010")
@pytest.mark.parametrize(("where", "reply", "retryable"), [
    ("data_reply", "554 5.7.1 message rejected", False),
    ("data_reply", "451 4.3.0 try again later", True),
    ("rcpt_reply", "550 5.1.1 no such user", False),
    ("rcpt_reply", "450 4.2.1 mailbox busy", True),
])
async def test_smtp_5xx_is_final_and_4xx_retryable(smtp: SmtpFactory, alert: Alert, where: str,
                                                   reply: str, retryable: bool) -> None:
    with smtp(**{where: reply}) as server, pytest.raises(DeliveryError) as info:
        await channel(server.port).send(alert, repeat=False)
    assert info.value.retryable is retryable
    assert reply.split()[0] in info.value.reason and reply.split()[-1] in info.value.reason
    assert server.received == []


@pytest.mark.req("FR-008", "FR-010")
async def test_one_refused_recipient_does_not_fail_the_delivery(
    smtp: SmtpFactory, alert: Alert, caplog: pytest.LogCaptureFixture
) -> None:
    with smtp(refuse={"lead@example.com": "550 5.1.1 no such user"}) as server:
        partly = await channel(server.port).send(alert, repeat=False)  # no retry: no 2nd mail
    assert [e.rcpt_tos for e in server.received] == [["oncall@example.com"]]
    assert "lead@example.com (550)" in caplog.text
    assert partly is not None and partly.recipients == ("lead@example.com",)
    assert partly.reason == "recipients refused: lead@example.com 550 5.1.1 no such user"


@pytest.mark.req("FR-010", "FR-011")
async def test_unreachable_server_is_retryable_without_the_password(alert: Alert) -> None:
    ch = channel(1, username="dq", password=PASSWORD, starttls=True)  # nothing on port 1
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    assert info.value.retryable and "127.0.0.1:1 unreachable" in info.value.reason
    assert PASSWORD not in str(info.value)


@pytest.mark.req("NFR-008", "FR-008")
async def test_alert_text_stays_inside_its_header_and_is_escaped_in_html(
        smtp: SmtpFactory) -> None:
    """A subject from the alert topic holding a line break cannot add a header (or make the mail
    undeliverable); markup in it shows as text in the HTML part."""
    alert = make_alert().model_copy(update={
        "subject": "customer_id\r\nBcc: everyone@example.com\u2028X-Spam: no",
        "detail": "null rate <b>25%</b> & <script>alert(1)</script>"})
    with smtp() as server:
        await channel(server.port).send(alert, repeat=False)
    (envelope,) = server.received
    msg, bodies = parse(envelope)
    assert msg["Subject"] == ("[FAIL] completeness warehouse.orders customer_id  Bcc: "
                              "everyone@example.com X-Spam: no")
    assert msg["Bcc"] is None and msg["X-Spam"] is None
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    html = bodies["text/html"]
    assert "<script>" not in html and "<b>25%" not in html
    assert "null rate &lt;b&gt;25%&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert alert.detail in bodies["text/plain"]
