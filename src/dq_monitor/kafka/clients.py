"""aiokafka client settings derived from the config, in one place (FR-020 security included)."""

from __future__ import annotations

import ssl
from typing import Any

from dq_monitor.config import KafkaConfig, KafkaSecurity


def ssl_context(sec: KafkaSecurity) -> ssl.SSLContext:
    """Verify the brokers against ``ssl_ca_file`` (or the system CAs); present a client
    certificate when one is configured. Hostname checking is on unless turned off."""
    ctx = ssl.create_default_context(cafile=sec.ssl_ca_file)
    ctx.check_hostname = sec.ssl_check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if sec.ssl_cert_file is not None:
        password = sec.ssl_key_password.get_secret_value() if sec.ssl_key_password else None
        ctx.load_cert_chain(sec.ssl_cert_file, sec.ssl_key_file, password=password)
    return ctx


def security_kwargs(sec: KafkaSecurity) -> dict[str, Any]:
    """The aiokafka arguments for ``security_protocol`` and its TLS / SASL options."""
    kwargs: dict[str, Any] = {"security_protocol": sec.security_protocol}
    if sec.uses_tls:
        kwargs["ssl_context"] = ssl_context(sec)
    if sec.uses_sasl:
        kwargs["sasl_mechanism"] = sec.sasl_mechanism
        kwargs["sasl_plain_username"] = sec.sasl_username
        if sec.sasl_password is not None:
            kwargs["sasl_plain_password"] = sec.sasl_password.get_secret_value()
    return kwargs


def common_kwargs(cfg: KafkaConfig, bootstrap: str | None = None) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap or cfg.bootstrap_servers,
        "client_id": cfg.client_id,
        **security_kwargs(cfg),
    }


def producer_kwargs(cfg: KafkaConfig) -> dict[str, Any]:
    """At-least-once producer: acks from all replicas, no idempotence (not every broker has it)."""
    return {
        **common_kwargs(cfg),
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 0,
        "request_timeout_ms": 15000,
        # NFR-008: a record over this is refused at once (``kafka.failures``), never retried;
        # batches stay within it too, so a broker with message.max.bytes >= it takes them.
        "max_request_size": cfg.max_request_size,
        "max_batch_size": min(16384, cfg.max_request_size),
    }


def consumer_kwargs(cfg: KafkaConfig, group_id: str, *, static: bool = False) -> dict[str, Any]:
    """Group consumer that never auto-commits: offsets are committed after outputs are durable.

    ``static``: join as the static member ``kafka.group_instance_id`` when one is configured
    (NFR-001: a restart then takes its old place instead of waiting out the old session).
    """
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor

    instance = cfg.group_instance_id if static else None
    return {
        **({"group_instance_id": instance} if instance else {}),
        **common_kwargs(cfg),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": int(cfg.session_timeout * 1000),
        "heartbeat_interval_ms": int(cfg.heartbeat_interval * 1000),
        "max_partition_fetch_bytes": max(cfg.max_event_bytes * 2, 1024 * 1024),
        # A fetch waits at most this long for new records: it bounds the idle part of the
        # alert latency (NFR-002) at the cost of a few more fetch requests while idle.
        "fetch_max_wait_ms": 20,
        # Range assignment gives one instance the same partition number of every input topic,
        # so a source's table updates and metrics (same key) are owned together.
        "partition_assignment_strategy": (RangePartitionAssignor,),
    }
