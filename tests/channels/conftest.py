"""Real local servers for channel tests: a scriptable HTTP receiver, aiosmtpd, a TLS certificate.

The HTTP receiver is plain ``asyncio.start_server`` (no HTTP library on the server side, so the
client under test is checked against the wire, not against itself). Each request is answered
from ``script`` in turn, then ``default``; a ``Reply`` can hang instead of answering. Requests
are recorded with their arrival time on the server's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest

from dq_monitor.embedded import free_port
from dq_monitor.events import Alert


def make_alert(severity: Literal["WARN", "FAIL"] = "FAIL",
               status: Literal["firing", "resolved"] = "firing", fp: str = "ab" * 16,
               observed: float = 0.25, alert_id: str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
               ) -> Alert:
    return Alert(
        alert_id=alert_id, fingerprint=fp, check="completeness",
        source="warehouse.orders", subject="customer_id", severity=severity,
        status=status, observed=observed, expected=0.01,
        detail="warehouse.orders.customer_id null rate 25% is above the limit 1%",
        requirement="FR-004", event_time=datetime(2026, 6, 26, 11, 58, tzinfo=UTC),
        detected_at=datetime(2026, 6, 26, 11, 58, 1, tzinfo=UTC),
    )


@pytest.fixture
def alert() -> Alert:
    return make_alert()


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Read the request, then never answer (until the server stops).
    hang: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when the request was complete

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpServer:
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[Request] = field(default_factory=list)
    #: Statuses actually sent, in order (a hung request sends none).
    answered: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (h.partition(":") for h in head[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Request(method, path, headers, body, time.monotonic()))
                reply = self.script.pop(0) if self.script else self.default
                if reply.hang:
                    await asyncio.Event().wait()
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write(f"HTTP/1.1 {reply.status} Scripted\r\n"
                             f"content-length: {len(reply.body)}\r\n{extra}\r\n".encode()
                             + reply.body)
                await writer.drain()
                self.answered.append(reply.status)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    server = HttpServer()
    await server.start()
    yield server
    await server.stop()


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the ``openssl`` command line."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return Certificate(cert, key)


# --------------------------------------------------------------------------- SMTP


@dataclass
class SmtpServer:
    port: int
    #: aiosmtpd envelopes of the messages accepted.
    received: list[Any]
    #: Logins that succeeded.
    logins: list[str]


SmtpFactory = Callable[..., contextlib.AbstractContextManager[SmtpServer]]


@pytest.fixture
def smtp() -> SmtpFactory:
    """``with smtp(starttls=cert, auth=(user, pw), data_reply="451 ...") as server:``.

    ``starttls`` offers STARTTLS and requires it; ``implicit_tls`` speaks TLS from the first
    byte; ``auth`` requires AUTH (after STARTTLS when ``starttls`` is given);
    ``rcpt_reply``/``data_reply`` answer that command instead of accepting; ``refuse`` maps
    single recipients to their RCPT reply.
    """

    @contextlib.contextmanager
    def serve(*, starttls: Certificate | None = None, implicit_tls: Certificate | None = None,
              auth: tuple[str, str] | None = None, rcpt_reply: str | None = None,
              refuse: dict[str, str] | None = None,
              data_reply: str | None = None) -> Iterator[SmtpServer]:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = SmtpServer(free_port(), [], [])

        class Handler:
            async def handle_RCPT(self, srv: Any, session: Any, envelope: Any,  # noqa: N802
                                  address: str, rcpt_options: list[str]) -> str:
                if rcpt_reply or (refuse and address in refuse):
                    return rcpt_reply or (refuse or {})[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                if data_reply:
                    return data_reply
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

    return serve
