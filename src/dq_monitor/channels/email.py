"""SMTP email (FR-008): STARTTLS or implicit TLS, optional AUTH, plain-text and HTML parts.

One connection per alert: alert mail is rare and a pooled SMTP session would go stale between
incidents. A mail accepted for some recipients is never sent to them again: the recipients
refused for now (4xx) are asked again alone (``send_to``), the ones refused for good (5xx) are
reported back (``Undelivered``). SMTP 4xx replies, timeouts and connection trouble may pass
later: retryable; a 421 (the server sheds load) or a 4xx with enhanced status 4.7.x (a policy
deferral: too many messages or connections, greylisting) is the server's rate limit
(``routing.retry``). SMTP 5xx replies (bad credentials, refused sender or recipients, rejected
data) and a server that lacks a configured feature (STARTTLS, AUTH) are final. The password
never reaches a message. NFR-008: alert text reaches the headers through
``escape.mail_header`` (one line, whatever the source or subject holds) and the HTML part
through ``escape.html``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from aiosmtplib.response import SMTPResponse

from dq_monitor.channels.base import Undelivered, colour, fields, number, render_text, title
from dq_monitor.channels.grouped import Notification, alert_line, group_text, group_title
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.escape import html, mail_header
from dq_monitor.events import Alert

log = logging.getLogger("dq_monitor.channels.email")

#: How much of a server reply goes into a reason.
REPLY_CHARS = 200


def render_html(alert: Alert, repeat: bool = False) -> str:
    """The HTML part: a coloured title, the detail sentence and a table of the facts."""
    e = html
    rows = "".join(
        f"<tr><th align='left' style='padding-right:1em'>{e(k)}</th><td>{e(v)}</td></tr>"
        for k, v in fields(alert)
    )
    return (
        "<!DOCTYPE html><html><body style='font-family:sans-serif'>"
        f"<h2 style='color:{colour(alert)}'>{e(title(alert, repeat))}</h2>"
        f"<p>{e(alert.detail)}</p>"
        f"<p><b>Observed</b> {e(number(alert.observed))} vs <b>expected</b> "
        f"{e(number(alert.expected))}</p>"
        f"<table>{rows}</table></body></html>"
    )


def build_message(alert: Alert, repeat: bool, cfg: EmailConfig) -> EmailMessage:
    """multipart/alternative: text first, HTML last (mail clients show the last they can)."""
    msg = _envelope(title(alert, repeat), repeat, cfg)
    msg["X-DQ-Fingerprint"] = mail_header(alert.fingerprint)
    msg.set_content(render_text(alert, repeat))
    msg.add_alternative(render_html(alert, repeat), subtype="html")
    return msg


def render_group_html(note: Notification) -> str:
    """FR-027: the HTML part of a group's mail: its title and a table row per alert."""
    e = html
    rows = "".join(
        f"<tr><td style='color:{colour(a)};padding-right:1em'>"
        f"{e('resolved' if a.status == 'resolved' else a.severity)}</td>"
        f"<td>{e(alert_line(a, note.notes.get(a.fingerprint)))}</td></tr>"
        for a in note.alerts)
    return ("<!DOCTYPE html><html><body style='font-family:sans-serif'>"
            f"<h2>{e(group_title(note))}</h2><table>{rows}</table>"
            f"<p>Group {e(note.group_key)}</p></body></html>")


def build_group_message(note: Notification, cfg: EmailConfig) -> EmailMessage:
    """FR-027: one mail per group notification, text and HTML."""
    msg = _envelope(group_title(note), note.repeat, cfg)
    msg["X-DQ-Group"] = mail_header(note.group_key)
    msg.set_content(group_text(note))
    msg.add_alternative(render_group_html(note), subtype="html")
    return msg


def _envelope(subject: str, repeat: bool, cfg: EmailConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = mail_header(subject)
    msg["From"] = cfg.from_
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="dq-monitor")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    msg["X-DQ-Repeat"] = "true" if repeat else "false"
    return msg


def _refusals(refused: Mapping[str, SMTPResponse]) -> str:
    return "recipients refused: " + "; ".join(
        " ".join(f"{rcpt} {r.code} {r.message}".split())[:REPLY_CHARS]
        for rcpt, r in refused.items()) if refused else ""


def rate_limit(code: int, message: str) -> bool:
    """An SMTP reply that defers for load or policy (RFC 5321 421, RFC 3463 4.7.x): the
    server's rate limit, retried without using up an attempt."""
    return code == 421 or (400 <= code < 500 and message.lstrip().startswith("4.7."))


def tls_context(cfg: EmailConfig) -> ssl.SSLContext | None:
    """The client context for ``tls``/``starttls``: system CAs or ``ca_file``; ``verify_tls``."""
    if not (cfg.tls or cfg.starttls):
        return None
    context = ssl.create_default_context(cafile=cfg.ca_file)
    if not cfg.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailChannel:
    def __init__(self, name: str, cfg: EmailConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._tls = tls_context(cfg)
        self._password = cfg.password.get_secret_value() if cfg.password else None

    @classmethod
    def from_config(cls, name: str, cfg: EmailConfig, **_deps: object) -> EmailChannel:
        return cls(name, cfg)

    async def send(self, alert: Alert, *, repeat: bool) -> Undelivered | None:
        return await self.send_to(alert, repeat=repeat, recipients=tuple(self.cfg.to))

    async def send_to(self, alert: Alert, *, repeat: bool,
                      recipients: tuple[str, ...]) -> Undelivered | None:
        """Mail ``alert`` to ``recipients`` (all of ``to``, or those refused for now by an
        earlier attempt); the ``To`` header names every configured recipient either way."""
        return await self._mail(build_message(alert, repeat, self.cfg), recipients)

    async def send_group(self, note: Notification) -> Undelivered | None:
        return await self._mail(build_group_message(note, self.cfg), tuple(self.cfg.to))

    async def send_group_to(self, note: Notification, *,
                            recipients: tuple[str, ...]) -> Undelivered | None:
        return await self._mail(build_group_message(note, self.cfg), recipients)

    async def _mail(self, message: EmailMessage,
                    recipients: tuple[str, ...]) -> Undelivered | None:
        cfg = self.cfg
        try:
            refused, _ = await aiosmtplib.send(
                message,
                recipients=list(recipients),
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username or None,
                password=self._password if cfg.username else None,
                use_tls=cfg.tls,
                start_tls=cfg.starttls,
                tls_context=self._tls,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise self._error(
                "all recipients refused: " + "; ".join(
                    f"{r.recipient} {r.code} {r.message}" for r in exc.recipients),
                retryable=any(400 <= c < 500 for c in codes),
                rate_limited=bool(exc.recipients) and all(
                    rate_limit(r.code, r.message) for r in exc.recipients),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._error(f"SMTP {exc.code}: {exc.message}",
                              retryable=not 500 <= exc.code < 600,
                              rate_limited=rate_limit(exc.code, exc.message)) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise self._error(f"server lacks a configured feature: {exc}",
                              retryable=False) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            detail = str(exc) if isinstance(exc, aiosmtplib.SMTPException) else ""
            if isinstance(exc, ssl.SSLCertVerificationError):
                detail = f"TLS certificate not trusted: {exc.verify_message}"
            why = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            raise self._error(f"SMTP {cfg.host}:{cfg.port} unreachable ({why})",
                              retryable=True) from None
        if not refused:
            return None
        # Some recipients have the mail: sending again to everyone would duplicate it for them.
        # Those refused for now (4xx) are asked again alone; the others are dead-lettered.
        log.warning("channel %r: recipients refused: %s", self.name,
                    ", ".join(f"{rcpt} ({r.code})" for rcpt, r in refused.items()))
        later = {rcpt: r for rcpt, r in refused.items() if 400 <= r.code < 500}
        final = {rcpt: r for rcpt, r in refused.items() if rcpt not in later}
        return Undelivered(
            tuple(final), _refusals(final), later=tuple(later), later_reason=_refusals(later),
            later_rate_limited=bool(later) and all(
                rate_limit(r.code, r.message) for r in later.values()))

    def _error(self, reason: str, *, retryable: bool, rate_limited: bool = False
               ) -> DeliveryError:
        if self._password:
            reason = reason.replace(self._password, "***")
        reason = " ".join(reason.split())[:REPLY_CHARS]
        return DeliveryError(self.name, reason, retryable=retryable, rate_limited=rate_limited)

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"EmailChannel({self.name!r})"
