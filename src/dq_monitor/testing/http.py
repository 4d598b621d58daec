"""A scriptable local HTTP receiver on plain asyncio (no HTTP library on the server side, so a
client is checked against the wire, not against itself)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Read the request, then never answer (until the receiver stops).
    hang: bool = False
    #: Seconds to wait before answering (a slow receiver).
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when the request was complete
    #: The status answered (0 while a hung request waits).
    status: int = 0

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers each request from ``script`` in turn, then with ``default``; records them all.
    With ``respond``, that function answers instead (an emulator of a real service's API).

    ``async with HttpReceiver() as hook: ... hook.url ...``, or ``start()`` / ``stop()``.
    """

    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    respond: Callable[[Request], Reply] | None = None
    requests: list[Request] = field(default_factory=list)
    #: Statuses actually sent, in order (a hung request sends none).
    answered: list[int] = field(default_factory=list)
    #: Connections accepted so far (a client that keeps them alive opens few).
    connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the receiver first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> HttpReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def json(self) -> list[Any]:
        """Bodies of the requests received, JSON-decoded."""
        return [r.json() for r in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (h.partition(":") for h in head[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body, time.monotonic())
                if self.script:
                    reply = self.script.pop(0)
                elif self.respond is not None:
                    reply = self.respond(request)
                else:
                    reply = self.default
                self.requests.append(replace(request, status=0 if reply.hang else reply.status))
                if reply.hang:
                    await asyncio.Event().wait()
                if reply.delay:
                    await asyncio.sleep(reply.delay)
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
