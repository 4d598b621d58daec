"""Real local servers for delivery tests: a scriptable HTTP receiver and an SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dq_monitor.embedded import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0  # the status the receiver answered with

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers each POST from ``script`` (status, headers) in turn, then ``default``.

    A status of 0 means "never answer" (hang until the client gives up).
    """

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, dict[str, str]] = (200, {})
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra = self.script.pop(0) if self.script else self.default
                self.requests.append(Request(path, headers, body, time.monotonic(), status))
                if status == 0:
                    await asyncio.sleep(3600)
                text = b'{"ok": false}' if status >= 300 else b"ok"
                extra_headers = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(text)}\r\n"
                             f"{extra_headers}\r\n".encode() + text)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


@contextlib.contextmanager
def smtp_server(*, tls_cert: tuple[Path, Path] | None = None, auth: tuple[str, str] | None = None,
                reply: str | None = None, refuse: dict[str, str] | None = None,
                ) -> Iterator[tuple[int, list[Any]]]:
    """An aiosmtpd server on a free port; yields (port, received messages). ``refuse`` maps
    recipients to the reply that refuses them (``"550 5.1.1 no such user"``)."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received: list[Any] = []

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                              address: str, rcpt_options: list[str]) -> str:
            if refuse and address in refuse:
                return refuse[address]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if reply:
                return reply
            received.append(envelope)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and auth is not None and (
            data.login.decode(), data.password.decode()) == auth
        return AuthResult(success=ok)

    context = None
    if tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    port = free_port()
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=context,
        require_starttls=tls_cert is not None, authenticator=authenticator if auth else None,
        auth_require_tls=tls_cert is not None, auth_required=auth is not None,
    )
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
