"""NFR-008: the telemetry port's HTTP server under hostile and broken clients, over real sockets:
malformed framing, HEAD, idle and never-reading clients, the connection cap, slow bodies."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import httpx
import orjson
import pytest

from dq_monitor.api import FiringView, Limits, OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.silence import SilenceBook, SilenceRequest
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import make_alert
from tests.api.test_operator import CONFIG, NOW


@dataclass
class Served:
    api: OperatorApi
    port: int
    silence_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def serve(limits: Limits | None = None, alerts: int = 1,
                detail: str = "null rate too high") -> Served:
    cfg = parse_config(CONFIG.format(host="127.0.0.1", token="null"), env={})
    firing = FiringView()
    for i in range(alerts):
        firing.apply(make_alert(fp=f"{i:032x}").model_copy(update={"detail": detail}))
    book = SilenceBook(cfg.kafka)
    book.loaded.set()
    silence = SilenceRequest(source="warehouse.*", created_by="ana", comment="backfill",
                             duration="2h").create(NOW)
    book.set.put(silence)
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), silences=book, firing=firing,
                      clock=NOW.timestamp, instance="test-1", limits=limits)
    return Served(api, await api.start(port=0), silence.id)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    s = await serve()
    yield s
    await s.api.aclose()


async def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw`` on a fresh connection; everything the server sends until it closes."""
    out = b""
    with anyio.fail_after(timeout):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(raw)
            try:
                while True:
                    out += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return out


def split(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def drain(sock: socket.socket) -> None:
    """Read until the connection ends; a clean end is a failure (the answer was delivered)."""
    while sock.recv(1 << 20):
        pass
    raise AssertionError("the whole answer was delivered to a client that never read")


def post(host: str, lengths: list[bytes]) -> bytes:
    head = [b"POST /api/v1/silences HTTP/1.1", f"Host: {host}".encode(),
            b"Content-Type: application/json", b"Connection: close"]
    head += [b"Content-Length: " + value for value in lengths]
    return b"\r\n".join(head) + b"\r\n\r\n{}"


@pytest.mark.req("NFR-008", "FR-019")
@pytest.mark.parametrize("lengths", [
    ["²".encode()], [b"\xb2"], [b"9" * 5000], [b"99999999999999999999999"], [b"-1"], [b"+2"],
    [b"0x10"], [b"2 2"], [b"2, 2"], [b"2", b"2"], [b"2", b"3"],
], ids=["superscript-two", "superscript-two-latin-1", "5000-digits", "overflow", "negative",
        "plus", "hex", "space", "list", "duplicate", "conflicting"])
async def test_malformed_and_duplicated_content_lengths_get_a_400_and_no_traceback(
        served: Served, lengths: list[bytes], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(served.port, post(f"127.0.0.1:{served.port}", lengths))
    head, body = split(answer)
    assert head.startswith((b"HTTP/1.1 400 ", b"HTTP/1.0 400 ")), answer[:200]
    assert "Content-Length" in orjson.loads(body)["error"]
    assert len(body) < 200  # the offending value is not echoed back
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text
    # the server is unharmed
    async with httpx.AsyncClient() as client:
        assert (await client.get(served.url + "/healthz")).status_code == 200


@pytest.mark.req("NFR-008", "FR-019")
async def test_head_answers_have_the_get_status_and_length_and_never_a_body(
        served: Served) -> None:
    paths = ["/", "/metrics", "/healthz", "/readyz", "/api/v1/alerts", "/api/v1/sources",
             "/api/v1/silences", f"/api/v1/silences/{served.silence_id}",
             "/api/v1/silences/no-such-id"]
    for path in paths:
        request = f"{path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nConnection: close\r\n\r\n"
        got_head, got_body = split(await exchange(served.port, b"GET " + request.encode()))
        head, body = split(await exchange(served.port, b"HEAD " + request.encode()))
        assert body == b"", path
        assert head.split(b"\r\n")[0] == got_head.split(b"\r\n")[0], path
        if path != "/metrics":  # its counters move between the two requests
            assert f"content-length: {len(got_body)}".encode() in head.lower(), path


@pytest.mark.req("NFR-008", "FR-019")
async def test_idle_connections_and_a_client_that_never_reads_starve_no_one() -> None:
    # an answer of about 12 MB: more than the kernel buffers of both ends can hold
    limits = Limits(write_timeout=2.0)
    s = await serve(limits, alerts=2000, detail="x" * 6000)
    idle: list[anyio.abc.SocketStream] = []
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        for _ in range(500):
            idle.append(await anyio.connect_tcp("127.0.0.1", s.port))
        stuck.connect(("127.0.0.1", s.port))
        stuck.sendall(f"GET /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n"
                      .encode())
        await anyio.sleep(0.5)  # the big answer is built and stuck in the pipe
        async with httpx.AsyncClient(base_url=s.url) as client:
            for path in ("/healthz", "/metrics", "/healthz"):
                with anyio.fail_after(1.0):
                    assert (await client.get(path)).status_code == 200
        # past the write timeout the stuck answer is dropped: the connection is reset
        await anyio.sleep(limits.write_timeout + 1.0)
        stuck.settimeout(5)
        with pytest.raises(ConnectionResetError):
            drain(stuck)
    finally:
        stuck.close()
        for stream in idle:
            await stream.aclose()
        await s.api.aclose()


@pytest.mark.req("NFR-008", "FR-019")
async def test_connections_past_the_cap_get_a_503_and_room_frees_when_one_closes() -> None:
    s = await serve(Limits(max_connections=3))
    held = [await anyio.connect_tcp("127.0.0.1", s.port) for _ in range(3)]
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode()
    try:
        head, body = split(await exchange(s.port, request))
        assert head.startswith(b"HTTP/1.1 503") and b"too many connections" in body
        await held.pop().aclose()
        await anyio.sleep(0.2)
        head, _ = split(await exchange(s.port, request.replace(b"\r\n\r\n",
                                                               b"\r\nConnection: close\r\n\r\n")))
        assert head.startswith(b"HTTP/1.1 200")
    finally:
        for stream in held:
            await stream.aclose()
        await s.api.aclose()


@pytest.mark.req("NFR-008", "FR-019")
async def test_a_client_that_never_finishes_its_head_or_body_is_let_go() -> None:
    s = await serve(Limits(idle_timeout=0.5, body_timeout=0.5))
    try:
        # half a head: closed without an answer soon after the idle timeout
        assert await exchange(s.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0", timeout=3) == b""
        # a body that never arrives: 408, well before any client gives up
        head, body = split(await exchange(
            s.port, post(f"127.0.0.1:{s.port}", [b"100"]), timeout=3))
        assert head.startswith(b"HTTP/1.1 408") and b"did not arrive" in body
    finally:
        await s.api.aclose()


@pytest.mark.req("NFR-008", "FR-019")
async def test_an_oversized_head_gets_a_431_with_a_reason(served: Served) -> None:
    request = (f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
               f"X-Padding: {'a' * 20_000}\r\n\r\n").encode()
    head, body = split(await exchange(served.port, request))
    assert head.startswith((b"HTTP/1.1 431", b"HTTP/1.0 431"))
    assert "request head too large" in orjson.loads(body)["error"]
