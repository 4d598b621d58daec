"""The ``kafka`` section (FR-020, NFR-008): the cluster, the topics, the clients' security and
the topics the service creates; a Kafka channel reuses the security settings for its own
cluster, so their cross-checks live here too."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

from dq_monitor.config.base import _Model
from dq_monitor.config.durations import PositiveDuration
from dq_monitor.config.raw import _int_or, _list, _seconds

#: aiokafka's and Apache Kafka's default (the brokers' ``message.max.bytes`` is 1 MiB + 12).
DEFAULT_MAX_REQUEST_SIZE = 1024 * 1024

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_FIELDS = (
    "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_ca_file",
    "ssl_cert_file", "ssl_key_file", "ssl_key_password", "ssl_check_hostname",
)


class KafkaSecurity(_Model):
    """FR-020: how a client authenticates to a cluster and verifies it (the monitor's, the
    router's, or a Kafka channel's own). ``ssl_*`` apply to SSL and SASL_SSL, ``sasl_*`` to
    SASL_PLAINTEXT and SASL_SSL; an option that would have no effect is rejected."""

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = Field(default=None, min_length=1)
    sasl_password: SecretStr | None = None
    #: PEM bundle of the CAs that sign the brokers' certificates (default: the system's).
    ssl_ca_file: str | None = None
    #: PEM client certificate (mutual TLS); the key may be in the same file.
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _replication(value: int) -> int:
    if value == 0:
        raise ValueError("must be -1 (the cluster's default.replication.factor) or at least 1")
    return value


_INSTANCE_ID = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _instance_id(value: str) -> str:
    """Kafka's rule for ``group.instance.id`` (a broker refuses others at the join)."""
    if not _INSTANCE_ID.match(value):
        raise ValueError("must be 1 to 249 characters of letters, digits, '.', '_' and '-'")
    return value


_TOPIC_CONFIG_NAME = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*$")


def _config_values(value: object) -> object:
    """Topic configs are strings on the wire: YAML numbers and booleans are written as Kafka
    spells them (``2``, ``true``); names must look like Kafka config names."""
    if not isinstance(value, dict):
        return value
    out: dict[object, object] = {}
    for k, v in value.items():
        if isinstance(k, str) and not _TOPIC_CONFIG_NAME.match(k):
            raise ValueError(f"{k!r} is not a topic config name (such as min.insync.replicas)")
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, int | float):
            v = str(v)
        out[k] = v
    return out


class KafkaConfig(KafkaSecurity):
    bootstrap_servers: str = Field(min_length=1)
    group_id: str = "dq-monitor"
    router_group_id: str | None = None
    input_topics: list[str] = Field(min_length=1)
    #: FR-022: topics of OpenLineage RunEvents (JSON), as the pipelines' OpenLineage Kafka
    #: transport writes them; the payload decides the source, whatever the record key.
    openlineage_topics: list[str] = Field(default_factory=list)
    alert_topic: str = Field(min_length=1)
    dead_letter_topic: str = Field(min_length=1)
    changelog_topic: str | None = None
    delivery_log_topic: str | None = None
    #: FR-018: where silences are kept (compacted); default ``<alert_topic>.silences``.
    silences_topic: str | None = None
    client_id: str = "dq-monitor"
    #: NFR-001: static group membership (KIP-345) for the monitor's consumer group. A restarted
    #: instance with the same id takes its old place without a rebalance; it must be unique per
    #: instance (``${HOSTNAME}`` on a Kubernetes StatefulSet). Unset: dynamic membership.
    group_instance_id: Annotated[str, AfterValidator(_instance_id)] | None = None
    session_timeout: PositiveDuration = "10s"  # type: ignore[assignment]
    heartbeat_interval: PositiveDuration = "3s"  # type: ignore[assignment]
    max_event_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: NFR-003/NFR-004: state checkpoints and input-offset commits happen this often (alerts
    #: are written at once regardless); a crash re-reads at most this much input.
    commit_interval: PositiveDuration = Field(default="1s", le=60)  # type: ignore[assignment]
    #: ... or once this many input records have been read since the last checkpoint, if that
    #: comes first: it bounds what a crash re-reads however fast the input is.
    commit_records: int = Field(default=100_000, ge=1)
    #: NFR-003: a due checkpoint that would write more than 500 state records waits until
    #: this many input records were read per state record it writes (0: never waits), so a
    #: large fleet's series are not all rewritten every interval (``ingest.cadence``) ...
    checkpoint_ratio: float = Field(default=8.0, ge=0, le=1000)
    #: ... but never longer than this after the last checkpoint (what a crash re-reads).
    checkpoint_max_interval: PositiveDuration = Field(  # type: ignore[assignment]
        default="30s", le=600)
    #: NFR-008: replication factor of every topic the service creates; -1 (the default) lets
    #: the cluster choose (its ``default.replication.factor``).
    replication_factor: Annotated[int, AfterValidator(_replication)] = Field(
        default=-1, ge=-1, le=32767)
    #: NFR-008: topic configs given to every topic the service creates (e.g.
    #: ``min.insync.replicas``); a topic's own (``cleanup.policy=compact``) win on a clash.
    topic_config: Annotated[dict[str, str], BeforeValidator(_config_values)] = Field(
        default_factory=dict)
    #: NFR-008: the producer's largest record (aiokafka's ``max_request_size``); keep it at or
    #: below the brokers' ``message.max.bytes``. State records are bounded by it at load.
    max_request_size: int = Field(default=DEFAULT_MAX_REQUEST_SIZE, ge=4096,
                                  le=2**31 - 1)

    @property
    def router_group(self) -> str:
        return self.router_group_id or f"{self.group_id}-router"

    @property
    def delivery_log(self) -> str:
        return self.delivery_log_topic or f"{self.alert_topic}.delivery-log"

    @property
    def silences(self) -> str:
        return self.silences_topic or f"{self.alert_topic}.silences"

    @property
    def changelog(self) -> str:
        return self.changelog_topic or f"{self.group_id}.changelog"

    @property
    def groups(self) -> str:
        """FR-027: alerts re-keyed by group key, so one router notifies each group."""
        return f"{self.alert_topic}.groups"

    @property
    def acks(self) -> str:
        """FR-027: acknowledgements (compacted, one record per fingerprint)."""
        return f"{self.alert_topic}.acks"

    @property
    def lineage(self) -> str:
        """FR-027: learned lineage (compacted, one record per output source)."""
        return f"{self.alert_topic}.lineage"


# --------------------------------------------------------------------------- cross-checks


def _readable(path: Any, where: str) -> Iterator[str]:
    if not isinstance(path, str):
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        yield f"{where}: cannot read {path!r} ({exc.strerror})"


def security_checks(section: dict[str, Any], base: str) -> Iterator[str]:
    """FR-020: every security option given must take effect, and SASL needs its credentials."""
    protocol = section.get("security_protocol", "PLAINTEXT")
    if not isinstance(protocol, str):
        return
    tls, sasl = protocol in ("SSL", "SASL_SSL"), protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    for name in ("sasl_mechanism", "sasl_username", "sasl_password"):
        if sasl and section.get(name) in (None, ""):
            yield f"{base}.{name}: required when security_protocol is {protocol}"
        elif not sasl and name in section:
            yield (f"{base}.{name}: has no effect with security_protocol {protocol} "
                   "(use SASL_PLAINTEXT or SASL_SSL)")
    for name in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password",
                 "ssl_check_hostname"):
        if not tls and name in section:
            yield (f"{base}.{name}: has no effect with security_protocol {protocol} "
                   "(use SSL or SASL_SSL)")
    if not tls:
        return
    if "ssl_key_file" in section and "ssl_cert_file" not in section:
        yield f"{base}.ssl_key_file: set ssl_cert_file too (the certificate of this key)"
    if "ssl_key_password" in section and "ssl_cert_file" not in section:
        yield f"{base}.ssl_key_password: set ssl_cert_file too (it unlocks the client key)"
    problems = [
        *_readable(section.get("ssl_ca_file"), f"{base}.ssl_ca_file"),
        *_readable(section.get("ssl_cert_file"), f"{base}.ssl_cert_file"),
        *_readable(section.get("ssl_key_file"), f"{base}.ssl_key_file"),
    ]
    yield from problems
    if problems:
        return
    ca, cert, key = (section.get(k) for k in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file"))
    password = section.get("ssl_key_password")
    ctx = ssl.create_default_context()
    if isinstance(ca, str):
        try:
            ctx.load_verify_locations(cafile=ca)
        except (ssl.SSLError, ValueError) as exc:
            yield f"{base}.ssl_ca_file: not a PEM certificate bundle ({exc.__class__.__name__})"
    if isinstance(cert, str):
        try:
            ctx.load_cert_chain(cert, key if isinstance(key, str) else None,
                                password=str(password) if password is not None else None)
        except (ssl.SSLError, ValueError):
            yield (f"{base}.ssl_cert_file: cannot load the client certificate and key "
                   "(not PEM, a key that does not match, or a wrong ssl_key_password)")


def kafka_checks(kafka: dict[str, Any]) -> Iterator[str]:
    """The raw ``kafka`` section: its security, events that fit a request, a heartbeat well
    within the session timeout, a topic in one input format only."""
    yield from security_checks(kafka, "kafka")
    native = [t for t in _list(kafka.get("input_topics")) if isinstance(t, str)]
    for i, topic in enumerate(_list(kafka.get("openlineage_topics"))):
        if topic in native:
            yield (f"kafka.openlineage_topics[{i}]: topic {topic!r} is also in "
                   "kafka.input_topics; a topic carries one input format")
    beat, session = (_seconds(kafka.get("heartbeat_interval", "3s")),
                     _seconds(kafka.get("session_timeout", "10s")))
    event_max, request_max = (_int_or(kafka.get("max_event_bytes"), 1024 * 1024),
                              _int_or(kafka.get("max_request_size"), DEFAULT_MAX_REQUEST_SIZE))
    if event_max and request_max and event_max > request_max:
        yield (f"kafka.max_event_bytes: must not exceed kafka.max_request_size ({event_max:,} > "
               f"{request_max:,}): an event read on a partition other than its source's is "
               "written again whole")
    if beat and session and beat >= session:
        yield (f"kafka.heartbeat_interval: must be shorter than session_timeout "
               f"({beat:g}s >= {session:g}s)")
