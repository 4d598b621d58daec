"""SMTP email (FR-008): STARTTLS or implicit TLS, optional AUTH, plain-text and HTML parts.

SMTP 4xx replies and connection trouble may pass: retryable. 5xx replies are final.
"""

from __future__ import annotations

import html
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from dq_monitor.channels.base import fields, render_text, title
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert

COLOURS = {"FAIL": "#d32f2f", "WARN": "#f9a825", "resolved": "#2e7d32"}


def build_message(alert: Alert, repeat: bool, cfg: EmailConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = title(alert, repeat)
    msg["From"] = cfg.from_
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="dq-monitor")
    msg["X-DQ-Fingerprint"] = alert.fingerprint
    msg.set_content(render_text(alert, repeat))
    colour = COLOURS["resolved"] if alert.status == "resolved" else COLOURS[alert.severity]
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in fields(alert))
    msg.add_alternative(
        f"<html><body><h2 style='color:{colour}'>{html.escape(title(alert, repeat))}</h2>"
        f"<p>{html.escape(alert.detail)}</p><table>{rows}</table></body></html>",
        subtype="html",
    )
    return msg


class EmailChannel:
    def __init__(self, name: str, cfg: EmailConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._tls: ssl.SSLContext | None = None
        if cfg.tls or cfg.starttls:
            self._tls = ssl.create_default_context(cafile=cfg.ca_file)
            if not cfg.verify_tls:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        cfg = self.cfg
        try:
            await aiosmtplib.send(
                build_message(alert, repeat, cfg),
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username or None,
                password=cfg.password.get_secret_value() if cfg.password else None,
                use_tls=cfg.tls,
                start_tls=cfg.starttls,
                tls_context=self._tls,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            final = 500 <= exc.code < 600
            raise DeliveryError(self.name, f"SMTP {exc.code}: {exc.message[:200]}",
                                retryable=not final) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(self.name, f"SMTP connection failed ({type(exc).__name__})",
                                retryable=True) from None

    async def aclose(self) -> None:
        return None
