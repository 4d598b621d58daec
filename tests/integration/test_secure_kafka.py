"""FR-020 for real: TLS with client certificates through stunnel in front of the embedded broker,
and SASL exchanges with the embedded broker's own authentication.

The PKI is made by the openssl CLI in the test: a CA, a broker certificate for 127.0.0.1 and
localhost, a client certificate whose key is encrypted (its password comes from ``${VAR}``),
and an unrelated CA that must be refused.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dq_monitor.config import Config, KafkaSecurity, parse_config
from dq_monitor.embedded import broker_binary, free_port, terminate, wait_for_port
from dq_monitor.kafka import security_kwargs
from dq_monitor.routing.router import AlertRouter
from dq_monitor.testing import HttpReceiver
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, now_rfc3339, running, serving
from tests.tools import require_tool

pytestmark = pytest.mark.integration

KEY_PASSWORD = "client-key-pw"


@dataclass(frozen=True)
class Pki:
    ca: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path
    server_cert: Path
    server_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, cn: str, cwd: Path, *, ext: str, key_args: tuple[str, ...] = ()) -> None:
    _openssl("req", "-newkey", "rsa:2048", *key_args, "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)
    (cwd / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "wrong-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=dq test {ca}", cwd=d)
    _signed("broker", "localhost", d, key_args=("-nodes",),
            ext="subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _signed("client", "dq-monitor", d, key_args=("-passout", f"pass:{KEY_PASSWORD}"),
            ext="extendedKeyUsage=clientAuth\n")
    return Pki(ca=d / "ca.pem", client_cert=d / "client.pem", client_key=d / "client.key",
               wrong_ca=d / "wrong-ca.pem", server_cert=d / "broker.pem",
               server_key=d / "broker.key")


@contextlib.contextmanager
def _process(args: list[str], port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port)
        yield
    finally:
        terminate(proc)


@contextlib.contextmanager
def _tansu(port: int, advertised: int, log: Path, *extra: str) -> Iterator[None]:
    with _process([broker_binary(), "broker",
                   "--listener-url", f"tcp://127.0.0.1:{port}",
                   "--advertised-listener-url", f"tcp://127.0.0.1:{advertised}", *extra],
                  port, log):
        yield


@pytest.fixture(scope="module")
def tls_bootstrap(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker reachable only over mutual TLS: stunnel on the advertised port, Tansu behind."""
    stunnel = require_tool("stunnel")
    d = tmp_path_factory.mktemp("stunnel")
    plain, tls = free_port(), free_port()
    conf = d / "stunnel.conf"
    conf.write_text(f"""foreground = yes
pid =
debug = warning
[kafka]
accept = 127.0.0.1:{tls}
connect = 127.0.0.1:{plain}
cert = {pki.server_cert}
key = {pki.server_key}
CAfile = {pki.ca}
requireCert = yes
verifyChain = yes
""")
    with _tansu(plain, tls, d / "tansu.log"), _process([stunnel, str(conf)], tls,
                                                       d / "stunnel.log"):
        yield f"127.0.0.1:{tls}"


def tls_settings(pki: Pki, *, ca: Path | None = None) -> str:
    return f"""  security_protocol: SSL
  ssl_ca_file: {ca or pki.ca}
  ssl_cert_file: {pki.client_cert}
  ssl_key_file: {pki.client_key}
  ssl_key_password: "${{KAFKA_KEY_PASSWORD}}"
"""


def secure_config(bootstrap: str, prefix: str, security: str, extra: str = "") -> str:
    return f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {prefix}-monitor
  input_topics: [{prefix}.updates]
  alert_topic: {prefix}.alerts
  dead_letter_topic: {prefix}.dead
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
{security}
telemetry: {{http_port: 0}}
sources:
  - name: orders
    completeness: {{min_row_count: 10}}
{extra}
"""


def client_security(pki: Pki) -> dict[str, Any]:
    return security_kwargs(KafkaSecurity.model_validate({
        "security_protocol": "SSL", "ssl_ca_file": str(pki.ca),
        "ssl_cert_file": str(pki.client_cert), "ssl_key_file": str(pki.client_key),
        "ssl_key_password": KEY_PASSWORD,
    }))


@pytest.mark.req("FR-020", "FR-008")
async def test_monitor_router_and_kafka_channel_deliver_over_mutual_tls(
    pki: Pki, tls_bootstrap: str
) -> None:
    prefix = f"tls{time.monotonic_ns() % 10**9}"
    hook = HttpReceiver()
    url = await hook.start()
    channels = f"""
routing:
  routes:
    - channels: [hook, copy]
channels:
  hook: {{type: webhook, url: "{url}/alerts"}}
  copy:
    type: kafka
    topic: {prefix}.copy
    bootstrap_servers: "{tls_bootstrap}"
{tls_settings(pki).replace("  ", "    ")}"""
    config: Config = parse_config(
        secure_config(tls_bootstrap, prefix, tls_settings(pki), channels),
        env={"KAFKA_KEY_PASSWORD": KEY_PASSWORD})
    admin = AIOKafkaAdminClient(bootstrap_servers=tls_bootstrap, **client_security(pki))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{prefix}.updates", 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=tls_bootstrap, enable_idempotence=False,
                                **client_security(pki))
    await producer.start()
    try:
        async with running(config), serving(AlertRouter(config)):
            event = {"type": "table_update", "source": "orders", "updated_at": now_rfc3339(),
                     "row_count": 0}
            await producer.send_and_wait(f"{prefix}.updates", orjson.dumps(event), key=b"orders")
            with anyio.fail_after(30):
                while not hook.requests:
                    await anyio.sleep(0.05)
            copy = await _read_one(tls_bootstrap, f"{prefix}.copy", pki)
    finally:
        await producer.stop()
        await hook.stop()
    posted = hook.requests[0].json()
    assert (posted["source"], posted["check"], posted["severity"]) == (
        "orders", "completeness", "FAIL")
    assert copy["fingerprint"] == posted["fingerprint"] and copy["repeat"] is False


async def _read_one(bootstrap: str, topic: str, pki: Pki) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                **client_security(pki))
    await consumer.start()
    try:
        with anyio.fail_after(30):
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    value: dict[str, Any] = orjson.loads(records[0].value)
                    return value
    finally:
        await consumer.stop()


def run_and_wait(config: str, tmp_path: Path, env: dict[str, str],
                 timeout: float = 45) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    proc = subprocess.run(
        [sys.executable, "-m", "dq_monitor.cli", "run", "--config", str(path)],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.req("FR-020")
def test_a_broker_certificate_from_another_ca_is_one_clear_line(
    pki: Pki, tls_bootstrap: str, tmp_path: Path
) -> None:
    code, out = run_and_wait(
        secure_config(tls_bootstrap, "wrongca", tls_settings(pki, ca=pki.wrong_ca)),
        tmp_path, {"KAFKA_KEY_PASSWORD": KEY_PASSWORD})
    assert code == 1, out
    lines = [line for line in out.splitlines() if "does not verify" in line]
    assert len(lines) == 1, out
    assert f"kafka: the certificate of {tls_bootstrap} does not verify" in lines[0]
    assert "check kafka.ssl_ca_file" in lines[0]
    assert "Traceback" not in out and KEY_PASSWORD not in out


@pytest.fixture(scope="module")
def sasl_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded broker with client authentication required. It offers SCRAM only and closes
    the connection on PLAIN, which a client cannot tell from a network failure (so PLAIN is
    retried as unreachable, not refused)."""
    port = free_port()
    with _tansu(port, port, tmp_path_factory.mktemp("sasl") / "tansu.log", "--authentication"):
        yield f"127.0.0.1:{port}"


@pytest.mark.req("FR-020")
@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_refused_sasl_credentials_are_one_clear_line_without_the_password(
    sasl_bootstrap: str, tmp_path: Path, mechanism: str
) -> None:
    security = f"""  security_protocol: SASL_PLAINTEXT
  sasl_mechanism: {mechanism}
  sasl_username: dq-monitor
  sasl_password: "${{KAFKA_PASSWORD}}"
"""
    code, out = run_and_wait(secure_config(sasl_bootstrap, "sasl", security), tmp_path,
                             {"KAFKA_PASSWORD": "n0t-th3-password"})
    assert code == 1, out
    lines = [line for line in out.splitlines() if "refused SASL" in line]
    assert len(lines) == 1, out
    assert (f"kafka: {sasl_bootstrap} refused SASL {mechanism} authentication as 'dq-monitor'"
            in lines[0])
    assert "Traceback" not in out and "n0t-th3-password" not in out
