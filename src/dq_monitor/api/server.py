"""NFR-008: the telemetry port's HTTP server: aiohttp's parser and connection handling, with
limits, answering ``Request`` → ``Response`` handlers (``api.exchange``).

aiohttp parses strictly: a malformed, overflowing or repeated ``Content-Length``, a length with
``Transfer-Encoding``, a missing or repeated ``Host`` are refused before any handler runs. This
module adds what it leaves open, so no client can hold the service's memory or starve others:

- at most ``max_connections`` open connections; one more is answered 503 and closed;
- a connection that has not sent a complete request head ``idle_timeout`` after it opened (or
  after its previous answer) is closed, so idle and slowly-dripping clients go away;
- a body must arrive within ``body_timeout`` (408) and be at most ``max_body`` bytes (413);
- a client that stops taking an answer for ``write_timeout`` has its connection aborted and
  the unsent bytes dropped (a client that never reads holds nothing);
- every refusal, of aiohttp's or ours, is ``{"error": reason}``; a bad request is one log line,
  never a traceback, and a HEAD answer never has a body.

It runs on the caller's asyncio loop (anyio's asyncio backend) and installs no signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, InvalidURLError, LineTooLong

from dq_monitor.api.exchange import Request, Response, error

log = logging.getLogger(__name__)
#: Requests are not logged one by one; raise this logger to INFO to see them.
access_log = logging.getLogger("dq_monitor.api.access")
access_log.setLevel(logging.WARNING)

Handler = Callable[[Request], Awaitable[Response]]
#: Headers whose meaning a second copy would make ambiguous (aiohttp already refuses a second
#: Host or Content-Length).
SINGLE = ("content-type", "origin", "authorization", "transfer-encoding")


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 512
    #: Longest request line or header line, and most header lines, of a request head.
    max_line: int = 8190
    max_headers: int = 64
    max_body: int = 64 * 1024
    idle_timeout: float = 10.0
    body_timeout: float = 10.0
    write_timeout: float = 10.0


def _canned(status: int, reason: str) -> bytes:
    body = orjson.dumps({"error": reason}) + b"\n"
    phrase = {503: "Service Unavailable"}[status]
    return (f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
            ).encode() + body


class _Connection(web.RequestHandler):
    """aiohttp's per-connection protocol, with its error answers in the API's JSON shape."""

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already under way")
        detail = (message or "").strip().splitlines()
        first = detail[0].rstrip(":") if detail else "bad request"
        if isinstance(exc, LineTooLong):
            status, reason = 431, f"request head too large ({first})"
        elif isinstance(exc, BadStatusLine | InvalidURLError):
            reason = f"malformed request line ({first})"
        elif status == 400:
            reason = f"malformed request ({first})"
        else:
            reason = "internal error (logged by the service)"
        if status >= 500:  # a fault of ours, not of the request: keep the traceback
            log.error("operator API: %s %s failed", request.method, request.path, exc_info=exc)
        else:
            log.warning("operator API: refused a request from %s: %d %s", request.remote,
                        status, reason)
        response = web.Response(status=status, body=orjson.dumps({"error": reason}) + b"\n",
                                content_type="application/json")
        response.force_close()
        return response


class _Gate(asyncio.Protocol):
    """Counts the open connections and admits one more only below the cap; aborts one whose
    client stopped reading for ``write_timeout``. Everything else goes to aiohttp's protocol."""

    def __init__(self, server: HttpServer, inner: _Connection) -> None:
        self.server, self.inner = server, inner
        self.admitted = False
        self.transport: asyncio.Transport | None = None
        self._stalled: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server.open >= self.server.limits.max_connections:
            transport.write(_canned(503, "too many connections; try again in a moment"))
            transport.close()
            return
        self.admitted = True
        self.server.open += 1
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
        if self.admitted:
            self.admitted = False
            self.server.open -= 1
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.admitted:
            self.inner.eof_received()
        return None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()
            self._stalled = asyncio.get_running_loop().call_later(
                self.server.limits.write_timeout, self._abort)

    def resume_writing(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if self.admitted:
            self.inner.resume_writing()

    def _abort(self) -> None:
        """Reset the connection: the unsent answer is dropped here and in the kernel."""
        if self.transport is None:
            return
        log.warning("operator API: a client took no data for %gs; connection reset",
                    self.server.limits.write_timeout)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class HttpServer:
    def __init__(self, handle: Handler, limits: Limits | None = None) -> None:
        self.handle = handle
        self.limits = limits or Limits()
        self.open = 0
        self._manager = web.Server(self._serve, handler_cancellation=True)
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free one); returns the bound port."""
        loop = asyncio.get_running_loop()
        lim = self.limits

        def protocol() -> _Gate:
            return _Gate(self, _Connection(
                self._manager, loop=loop, keepalive_timeout=lim.idle_timeout,
                max_line_size=lim.max_line, max_field_size=lim.max_line,
                max_headers=lim.max_headers, lingering_time=1.0, logger=log,
                access_log=access_log))

        self._server = await loop.create_server(protocol, host, port,
                                                backlog=min(lim.max_connections, 1024))
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def aclose(self) -> None:
        """Stop listening, end every connection (an answer under way gets a second)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await self._manager.shutdown(1.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await server.wait_closed()

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        return self._send(await self._answer(request))

    async def _answer(self, request: web.BaseRequest) -> Response:
        for name in SINGLE:
            if len(request.headers.getall(name, ())) > 1:
                return error(400, f"more than one {name} header")
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return error(411, "chunked bodies are not accepted: send Content-Length")
        length = request.content_length or 0
        if length > self.limits.max_body:
            return error(413, f"body too large (at most {self.limits.max_body} bytes)")
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                body = await request.content.readexactly(length) if length else b""
        except TimeoutError:
            return error(408, f"the body did not arrive within {self.limits.body_timeout:g}s")
        except (asyncio.IncompleteReadError, ConnectionError):
            return error(400, "the body ended before its Content-Length")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        req = Request(request.method, request.path or "/",
                      {k: request.query.getall(k) for k in request.query},
                      {k.lower(): v for k, v in request.headers.items()}, body,
                      (str(sockname[0]), int(sockname[1])) if sockname else None)
        try:
            return await self.handle(req)
        except Exception:
            log.exception("operator API: %s %s failed", req.method, req.path)
            return error(500, "internal error (logged by the service)")

    @staticmethod
    def _send(answer: Response) -> web.StreamResponse:
        """aiohttp writes it (no body for HEAD); ``_Gate`` bounds how long that may take."""
        response = web.Response(status=answer.status, body=answer.body,
                                headers={"Content-Type": answer.content_type,
                                         "Cache-Control": "no-store", "Server": "dq-monitor",
                                         **dict(answer.headers)})
        if answer.status in (408, 411, 413):
            response.force_close()  # the rest of the body is not worth reading
        return response
