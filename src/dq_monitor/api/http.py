"""A deliberately small HTTP/1.1 server for the telemetry port: one request per connection.

It reads a request line, headers and a ``Content-Length`` body within fixed limits, hands a
``Request`` to the handler and writes its ``Response``. Anything malformed or too large is
answered 400/413 with a reason; a handler that raises is answered 500 without a traceback (the
traceback goes to the log). No chunked bodies, no keep-alive: the clients are scrapers,
browsers, health checks and the ``dq-monitor`` CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def flag(self, name: str) -> bool:
        """A boolean query parameter: ``?expired`` or ``?expired=true|1``."""
        values = self.query.get(name)
        return values is not None and values[-1].lower() in ("", "1", "true", "yes")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        reason = HTTPStatus(self.status).phrase
        head = [f"HTTP/1.1 {self.status} {reason}", f"Content-Type: {self.content_type}",
                f"Content-Length: {len(self.body)}", "Connection: close",
                "Cache-Control: no-store",
                *(f"{k}: {v}" for k, v in self.headers)]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


def json_response(status: int, value: object) -> Response:
    return Response(status, orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def error(status: int, reason: str, *headers: tuple[str, str]) -> Response:
    """A 4xx/5xx with ``{"error": reason}`` (the shape of ``schemas/api-error.schema.json``)."""
    return Response(status, orjson.dumps({"error": reason}) + b"\n", headers=headers)


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


Handler = Callable[[Request], Awaitable[Response]]


async def read_request(reader: asyncio.StreamReader) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise BadRequest(431, "request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target = parts[0].upper(), parts[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadRequest(400, f"malformed header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "chunked bodies are not accepted: send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, "Content-Length must be a number")
    length = int(length_text)
    if length > MAX_BODY:
        raise BadRequest(413, f"body too large (at most {MAX_BODY} bytes)")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    return Request(method, unquote(url.path) or "/", parse_qs(url.query, keep_blank_values=True),
                   headers, body)


async def serve(host: str, port: int, handle: Handler) -> asyncio.Server:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(read_request(reader), READ_TIMEOUT_S)
            except BadRequest as exc:
                response = error(exc.status, exc.reason)
            else:
                try:
                    response = await handle(request)
                except Exception:
                    log.exception("operator API: %s %s failed", request.method, request.path)
                    response = error(500, "internal error (logged by the service)")
            writer.write(response.encode())
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(connection, host, port, limit=MAX_HEAD)
