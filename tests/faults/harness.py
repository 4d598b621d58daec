"""NFR-007 harness: incidents whose every alert is known in advance, a ledger that counts what
reached the channel, and processes (monitor, broker, S3 emulator) that can be killed for real.

Each source has ``rounds`` incidents: a table update below ``min_row_count`` (one firing
alert) followed by a healthy one (one resolved alert). Row counts are unique, so an alert is
identified from outside by (source, status, observed) whatever the instance that sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest

from dq_monitor.embedded import broker_binary, free_port, terminate, wait_for_port
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, now_rfc3339

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "faults"
MIN_ROWS = 1_000_000

Identity = tuple[str, str, float]


@dataclass(frozen=True)
class Incidents:
    sources: int
    rounds: int

    @property
    def names(self) -> list[str]:
        return [f"s{i:02d}" for i in range(self.sources)]

    def bad(self, rnd: int, i: int) -> int:
        return 1000 + rnd * 100 + i

    def good(self, rnd: int, i: int) -> int:
        return 2 * MIN_ROWS + rnd * 100 + i

    def events(self, rnd: int, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """One round's failing (``"bad"``) or healthy (``"good"``) update of every source."""
        rows = self.bad if kind == "bad" else self.good
        return [(name, {"type": "table_update", "source": name, "updated_at": now_rfc3339(),
                        "row_count": rows(rnd, i)}) for i, name in enumerate(self.names)]

    def expected(self, rounds: Iterable[int] | None = None) -> set[Identity]:
        out: set[Identity] = set()
        for rnd in range(self.rounds) if rounds is None else rounds:
            for i, name in enumerate(self.names):
                out.add((name, "firing", float(self.bad(rnd, i))))
                out.add((name, "resolved", float(self.good(rnd, i))))
        return out

    def sources_yaml(self) -> str:
        return "\n".join(f"  - name: {n}\n    completeness: {{min_row_count: {MIN_ROWS}}}"
                         for n in self.names)


def identity(alert: dict[str, Any]) -> Identity:
    return (alert["source"], alert["status"], float(alert["observed"]))


def delivered(posts: Iterable[dict[str, Any]]) -> Counter[Identity]:
    """First deliveries seen by the channel (reminders, ``repeat: true``, are not counted)."""
    return Counter(identity(p) for p in posts if not p.get("repeat"))


def figures(fault: str, expected: set[Identity], posts: list[dict[str, Any]], *,
            dead: Iterable[dict[str, Any]] = (), context: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    """Expected / delivered / duplicated / dead-lettered / lost, as the README table shows."""
    got = delivered(posts)
    dead_ids = {identity(d["alert"]) for d in dead if d.get("kind") == "undeliverable_alert"}
    reached = set(got) & expected
    return {
        "fault": fault,
        "alerts_expected": len(expected),
        "delivered": len(reached),
        "duplicated": sum(n - 1 for k, n in got.items() if k in expected),
        "dead_lettered": len((dead_ids & expected) - reached),
        "lost": len(expected - reached - dead_ids),
        "unexpected": len(set(got) - expected),
        **(context or {}),
        "missing": sorted(expected - reached - dead_ids)[:10],
    }


def record(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


def config_text(bootstrap: str, prefix: str, incidents: Incidents, hook_url: str,
                retry: str = "") -> str:
    return f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {prefix}-mon
  input_topics: [{prefix}.updates]
  alert_topic: {prefix}.alerts
  dead_letter_topic: {prefix}.dead
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
telemetry: {{http_port: 0}}
sources:
{incidents.sources_yaml()}
routing:
  {retry}
  routes:
    - channels: [hook]
channels:
  hook: {{type: webhook, url: "{hook_url}/alerts", timeout: 2s}}
"""


class Service:
    """``dq-monitor run`` (or ``route``) as a process whose log goes to a file (a pipe could
    fill and block)."""

    def __init__(self, config: Path, log: Path, command: str = "run") -> None:
        self.config, self.log, self.command = config, log, command
        self.proc: subprocess.Popen[bytes] | None = None
        self._from = 0

    def start(self) -> Service:
        self._from = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dq_monitor.cli", self.command, "--config",
                 str(self.config)],
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out,
                stderr=subprocess.STDOUT)
        return self

    def text(self) -> str:
        return self.log.read_bytes()[self._from:].decode(errors="replace")

    async def wait_for(self, needle: str, timeout: float = 40) -> None:
        with anyio.fail_after(timeout):
            while needle not in self.text():
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"process exited:\n{self.text()}")
                await anyio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=15)


@contextlib.contextmanager
def services(*items: Service) -> Iterator[None]:
    try:
        yield
    finally:
        for s in items:
            s.stop()


class Producer:
    """A pipeline's producer: each event is re-sent until the broker takes it (at least once)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._p: AIOKafkaProducer | None = None

    async def send(self, topic: str, events: list[tuple[str, dict[str, Any]]],
                   pause: float = 0.0) -> None:
        for key, event in events:
            await self._send_one(topic, key, orjson.dumps(event))
            if pause:
                await anyio.sleep(pause)

    async def _send_one(self, topic: str, key: str, value: bytes) -> None:
        with anyio.fail_after(90):
            while True:
                try:
                    if self._p is None:
                        self._p = AIOKafkaProducer(bootstrap_servers=self.bootstrap,
                                                   enable_idempotence=False,
                                                   request_timeout_ms=3000)
                        await self._p.start()
                    with anyio.fail_after(5):
                        await self._p.send_and_wait(topic, value, key=key.encode())
                    return
                except (KafkaError, OSError, TimeoutError):
                    await self.close()
                    await anyio.sleep(0.5)

    async def close(self) -> None:
        if self._p is not None:
            p, self._p = self._p, None
            with contextlib.suppress(Exception):
                await p.stop()


class Gate:
    """A TCP forwarder on the port clients know, in front of the broker's own port.

    Closed, it refuses connections and cuts the ones it carries (as a dead broker would);
    open, it forwards. It exists because Tansu 0.6.0's S3 engine restarts a partition's
    offsets at 0 (overwriting records) when the first request for that partition after a
    broker restart is a Produce; a Fetch first loads the stored high watermark. The harness
    fetches every partition once, directly on the broker's port, before it opens the gate.
    Apache Kafka keeps its log end on disk and needs no such step.
    """

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._pipes):
            w.transport.abort()
        self._pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self._pipes.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


#: Seconds between cutting the clients off and killing the broker (see ``Broker.kill``).
SETTLE_S = 0.5


class Broker:
    """The embedded broker with durable S3 storage behind a ``Gate``: killed and started
    again on the same ports, its partitions loaded before clients get back in."""

    def __init__(self, storage: str, env: dict[str, str], log: Path) -> None:
        self.storage, self.env, self.log = storage, env, log
        self.own_port = free_port()
        self.gate = Gate(free_port(), self.own_port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.gate.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [broker_binary(), "broker",
                 "--listener-url", f"tcp://127.0.0.1:{self.own_port}",
                 "--advertised-listener-url", f"tcp://{self.bootstrap}",
                 "--storage-engine", self.storage],
                env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT)
        await anyio.to_thread.run_sync(wait_for_port, "127.0.0.1", self.own_port)
        await self._load_partitions()
        await self.gate.open()

    async def _load_partitions(self) -> None:
        # A restarted broker reloads its partitions from the S3 emulator: seconds when idle,
        # over 20 s while the rest of the suite loads the machine.
        with anyio.fail_after(60):
            while True:
                try:
                    conn = await create_conn("127.0.0.1", self.own_port)
                except (KafkaError, OSError):  # listening, not answering yet
                    await anyio.sleep(0.1)
                    continue
                try:
                    meta = await conn.send(MetadataRequest(None))
                    topics = [(t[1], [(p[1], 0, 1 << 20) for p in t[3]]) for t in meta.topics]
                    if topics:
                        await conn.send(FetchRequest(100, 1, 1 << 24, 0, topics))
                    return
                except (KafkaError, OSError):
                    await anyio.sleep(0.1)
                finally:
                    conn.close()

    async def kill(self) -> None:
        """Cut every client off at once, SIGKILL the broker, and wait for it to be gone so its
        port is free again.

        The kill comes ``SETTLE_S`` after the cut: the S3 emulator writes objects in place, not
        atomically, so a broker killed in the middle of a PUT leaves a torn (empty) object —
        seen as a partition's ``watermark.json`` — that the restarted broker cannot read, and
        fetches of that partition fail for good. A real S3 (or Kafka's own log) has no such
        window; the clients still lose the broker mid-stream, with requests unanswered.
        """
        assert self.proc is not None
        await self.gate.close()
        await anyio.sleep(SETTLE_S)
        self.proc.send_signal(signal.SIGKILL)
        await anyio.to_thread.run_sync(lambda: self.proc.wait(timeout=10) if self.proc else 0)

    async def stop(self) -> None:
        await self.gate.close()
        if self.proc is not None:
            terminate(self.proc, timeout=8)
