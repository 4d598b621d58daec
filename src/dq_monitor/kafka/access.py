"""FR-020: find out before starting the clients whether the cluster and we accept each other.

aiokafka logs a failed TLS handshake or SASL exchange and then reports only "unable to
bootstrap", which looks like an unreachable broker and would be retried for ever. One probe
connection made with the same settings tells the cases apart: a certificate that does not
verify or credentials the broker refuses raise ``KafkaAccessError`` (retrying cannot help, so
the service stops with that one line); an unreachable broker raises ``OSError`` or
``KafkaConnectionError`` as before, for the caller to retry.
"""

from __future__ import annotations

import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError

from dq_monitor.config import KafkaSecurity
from dq_monitor.errors import KafkaAccessError
from dq_monitor.kafka.clients import security_kwargs

_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


def _first_server(bootstrap: str) -> tuple[str, int]:
    server = bootstrap.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    if not host:
        return server, 9092
    return host.strip("[]"), int(port)


async def check_access(
    sec: KafkaSecurity, bootstrap: str, *, where: str = "kafka", client_id: str = "dq-monitor"
) -> None:
    """Probe the first bootstrap server with ``sec``; PLAINTEXT needs no probe."""
    if sec.security_protocol == "PLAINTEXT":
        return
    host, port = _first_server(bootstrap)
    try:
        conn = await create_conn(host, port, client_id=client_id, request_timeout_ms=10_000,
                                 **security_kwargs(sec))
    except ssl.SSLCertVerificationError as exc:
        hint = (f"check {where}.ssl_check_hostname or the certificate's names"
                if exc.verify_code == _HOSTNAME_MISMATCH else f"check {where}.ssl_ca_file")
        raise KafkaAccessError(
            f"{where}: the certificate of {host}:{port} does not verify "
            f"({exc.verify_message}); {hint}") from None
    except ssl.SSLError as exc:
        raise KafkaAccessError(
            f"{where}: TLS handshake with {host}:{port} failed ({exc.reason or exc}); check "
            f"{where}.security_protocol and the ssl_* options") from None
    except (TimeoutError, OSError, KafkaConnectionError):
        raise
    except Exception as exc:  # aiokafka's SASL errors, and its SCRAM parser's on a refusal
        if not sec.uses_sasl:
            raise
        raise KafkaAccessError(
            f"{where}: {host}:{port} refused SASL {sec.sasl_mechanism} authentication as "
            f"{sec.sasl_username!r} ({type(exc).__name__}); check {where}.sasl_mechanism, "
            f"sasl_username and sasl_password") from None
    conn.close()
