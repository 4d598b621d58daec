"""A local SMTP server (aiosmtpd) that can require STARTTLS, implicit TLS or AUTH and refuse
commands or recipients, and a self-signed certificate made with the ``openssl`` command."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dq_monitor.embedded import free_port


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> Certificate:
    """A certificate for ``host`` (an IP address), valid two days; needs ``openssl``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=IP:{host}"],
        check=True, capture_output=True,
    )
    return Certificate(cert, key)


@dataclass
class SmtpServer:
    port: int
    #: aiosmtpd envelopes of the messages accepted (``rcpt_tos``, ``content``).
    received: list[Any] = field(default_factory=list)
    #: Logins that succeeded.
    logins: list[str] = field(default_factory=list)


@contextlib.contextmanager
def smtp_server(*, starttls: Certificate | None = None, implicit_tls: Certificate | None = None,
                auth: tuple[str, str] | None = None, rcpt_reply: str | None = None,
                refuse: dict[str, str | list[str]] | None = None,
                data_reply: str | None = None,
                data_replies: list[str] | None = None) -> Iterator[SmtpServer]:
    """``starttls`` offers STARTTLS and requires it; ``implicit_tls`` speaks TLS from the first
    byte; ``auth`` requires AUTH (after STARTTLS when ``starttls`` is given);
    ``rcpt_reply``/``data_reply`` answer that command instead of accepting; ``data_replies``
    answer the first DATA commands in turn, then mail is accepted; ``refuse`` maps single
    recipients to their RCPT reply (``"550 5.1.1 no such user"``), or to a list of replies
    given in turn, after which that recipient is accepted."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    server = SmtpServer(free_port())
    script = list(data_replies or ())

    class Handler:
        async def handle_RCPT(self, srv: Any, session: Any, envelope: Any,  # noqa: N802
                              address: str, rcpt_options: list[str]) -> str:
            if rcpt_reply:
                return rcpt_reply
            reply = (refuse or {}).get(address)
            if isinstance(reply, list):
                reply = reply.pop(0) if reply else None
            if reply:
                return reply
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if data_reply:
                return data_reply
            if script:
                return script.pop(0)
            server.received.append(envelope)
            return "250 OK"

    def authenticator(srv: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(), data.password.decode()) == auth
        if ok:
            server.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=server.port,
        tls_context=starttls.server_context() if starttls else None,
        ssl_context=implicit_tls.server_context() if implicit_tls else None,
        require_starttls=starttls is not None,
        authenticator=authenticator if auth else None,
        # aiosmtpd only knows about TLS it negotiated itself (STARTTLS); with implicit TLS
        # every byte is encrypted anyway.
        auth_required=auth is not None, auth_require_tls=starttls is not None,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
