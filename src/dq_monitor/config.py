"""The configuration file (FR-011): YAML → validated model, before anything starts.

Three passes, all of whose errors are reported together by path (``sources[2].anomaly.window``):
``${VAR}`` / ``${VAR:-default}`` expansion, schema validation (pydantic), then cross-checks that
relate fields (routes name existing channels, warn thresholds below fail thresholds, ...). The
cross-checks run on the raw document, so they still report when an unrelated field is invalid.
Secret fields are ``SecretStr``: they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from dq_monitor.checkpoint_size import series_record_bound
from dq_monitor.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"


def parse_duration(value: object) -> float:
    """``'500ms' | '30s' | '5m' | '1.5h'`` → seconds; bare numbers (but 0) are refused."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if not isinstance(value, str):
        raise ValueError("must be a duration string such as '30s' or '5m' (units ms, s, m, h)")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"invalid duration {value!r}: use a number and one of ms, s, m, h")
    return float(m.group(1)) * _UNIT[m.group(2)]


#: The longest duration accepted anywhere (a leap year): longer ones are typos, and far-future
#: deadlines would overflow date arithmetic.
MAX_DURATION_S = 366 * 86400.0


def _bounded(seconds: float) -> float:
    if seconds > MAX_DURATION_S:
        raise ValueError(f"too long: at most {MAX_DURATION_S / 3600:g}h")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


#: A duration that may be 0 (``for: 0s`` means at once).
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_bounded),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN}),
]
#: A duration for which 0 makes no sense (a timeout, an interval, a window).
PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_bounded),
    AfterValidator(_positive),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN}),
]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )


# --------------------------------------------------------------------------- checks


class Damping(_Model):
    """FR-015 options shared by every check (applied by the alert state machine)."""

    for_: Duration = Field(default="0s", alias="for")  # type: ignore[assignment]
    resolve_after: Duration = "0s"  # type: ignore[assignment]
    max_flaps: int | None = Field(default=None, ge=1)
    flap_window: PositiveDuration = "10m"  # type: ignore[assignment]


class FreshnessConfig(Damping):
    max_staleness: PositiveDuration
    warn_ratio: float = Field(default=0.8, gt=0, lt=1)


class ColumnRule(_Model):
    max_null_rate: float = Field(ge=0, le=1)
    warn_null_rate: float | None = Field(default=None, ge=0, le=1)


class CompletenessConfig(Damping):
    min_row_count: int | None = Field(default=None, ge=0)
    warn_ratio: float = Field(default=0.8, gt=0, le=1)
    columns: dict[str, ColumnRule] = Field(default_factory=dict)

    def warn_rate(self, column: str) -> float:
        rule = self.columns[column]
        if rule.warn_null_rate is not None:
            return rule.warn_null_rate
        return self.warn_ratio * rule.max_null_rate


#: FR-017: (z_warn, z_fail) for each ``sensitivity``, used where the thresholds are not given.
SENSITIVITY: dict[str, tuple[float, float]] = {
    "low": (5.5, 7.5),
    "medium": (4.5, 6.0),
    "high": (3.5, 5.0),
}


def _sensitivity_thresholds(data: Any) -> Any:
    """Fill ``z_warn``/``z_fail`` from ``sensitivity`` when the file leaves them out."""
    if isinstance(data, dict):
        warn, fail = SENSITIVITY.get(str(data.get("sensitivity", "medium")), SENSITIVITY["medium"])
        data = {"z_warn": warn, "z_fail": fail, **data}
    return data


class AnomalyConfig(Damping):
    """FR-005 / FR-014 / FR-017 options of one source's anomaly check."""

    metrics: list[str] = Field(min_length=1)
    #: ``robust`` (FR-017: outlier-proof, seasonal, trend-following) or ``rolling`` (the plain
    #: mean and standard deviation of the last ``window`` values).
    baseline: Literal["robust", "rolling"] = "robust"
    #: Rolling: values in the window. Robust: the span of the exponentially weighted level and
    #: scale (they forget at rate 2 / (window + 1) per value).
    window: int = Field(default=100, ge=2, le=100_000)
    min_samples: int = Field(default=20, ge=2)
    sensitivity: Literal["low", "medium", "high"] = "medium"
    #: Defaults shown are ``medium``'s; without them in the file, ``sensitivity`` decides.
    z_warn: float = Field(default=SENSITIVITY["medium"][0], gt=0)
    z_fail: float = Field(default=SENSITIVITY["medium"][1], gt=0)
    direction: Literal["both", "up", "down"] = "both"
    seasonality: Literal["auto", "none", "hour_of_day", "day_of_week", "hour_of_week"] = "auto"
    #: At most 65,536: the flagged values kept meanwhile are checkpointed with a 16-bit count.
    rebaseline_after: int = Field(default=10, ge=1, le=65_536)
    #: One incident, one episode: a firing anomaly resolves only after this many consecutive
    #: normal values; a value flagged within them continues the same episode.
    cooldown: int = Field(default=10, ge=0)
    min_abs_change: float = Field(default=0.0, ge=0)
    min_rel_change: float = Field(default=0.0, ge=0)

    _fill_thresholds = model_validator(mode="before")(_sensitivity_thresholds)


class SourceConfig(_Model):
    name: str = Field(min_length=1)
    freshness: FreshnessConfig | None = None
    completeness: CompletenessConfig | None = None
    anomaly: AnomalyConfig | None = None
    max_series: int = Field(default=10_000, ge=1)


# --------------------------------------------------------------------------- kafka


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
    alert_topic: str = Field(min_length=1)
    dead_letter_topic: str = Field(min_length=1)
    changelog_topic: str | None = None
    delivery_log_topic: str | None = None
    #: FR-018: where silences are kept (compacted); default ``<alert_topic>.silences``.
    silences_topic: str | None = None
    client_id: str = "dq-monitor"
    session_timeout: PositiveDuration = "10s"  # type: ignore[assignment]
    heartbeat_interval: PositiveDuration = "3s"  # type: ignore[assignment]
    max_event_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: NFR-003/NFR-004: state checkpoints and input-offset commits happen this often (alerts
    #: are written at once regardless); a crash re-reads at most this much input.
    commit_interval: PositiveDuration = Field(default="1s", le=60)  # type: ignore[assignment]
    #: ... or once this many input records have been read since the last checkpoint, if that
    #: comes first: it bounds what a crash re-reads however fast the input is.
    commit_records: int = Field(default=100_000, ge=1)
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


# --------------------------------------------------------------------------- routing

SeverityName = Literal["WARN", "FAIL"]
CheckKind = Literal["freshness", "completeness", "anomaly"]
StatusName = Literal["firing", "resolved"]


def _one_or_many(*values: str) -> WithJsonSchema:
    one = {"type": "string", "enum": list(values)}
    return WithJsonSchema({"anyOf": [one, {"type": "array", "items": one}, {"type": "null"}]})


class Match(_Model):
    """All given fields must match; a list means any of its values; ``source`` is a glob."""

    severity: Annotated[
        list[SeverityName] | None, BeforeValidator(_as_list), _one_or_many("WARN", "FAIL")
    ] = None
    check: Annotated[
        list[CheckKind] | None,
        BeforeValidator(_as_list),
        _one_or_many("freshness", "completeness", "anomaly"),
    ] = None
    source: str | None = None
    status: Annotated[
        list[StatusName] | None, BeforeValidator(_as_list), _one_or_many("firing", "resolved")
    ] = None



class Route(_Model):
    match: Match = Field(default_factory=Match)
    channels: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    #: FR-018: names of ``routing.mute_windows`` that hold this route's deliveries.
    mute: list[str] = Field(default_factory=list)


_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         "'Europe/Berlin')") from None
    return name


class TimeSpan(_Model):
    """``start``–``end`` as ``HH:MM``; an ``end`` before ``start`` runs past midnight."""

    start: str = Field(pattern=_CLOCK)
    end: str = Field(pattern=_CLOCK)

    @model_validator(mode="after")
    def _not_empty(self) -> TimeSpan:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty")
        return self


class MuteWindowConfig(_Model):
    """FR-018: a recurring mute window; every day when ``weekdays`` is not given."""

    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    times: list[TimeSpan] = Field(min_length=1)
    time_zone: Annotated[str, AfterValidator(_zone)] = "UTC"


class RetryConfig(_Model):
    initial: PositiveDuration = "500ms"  # type: ignore[assignment]
    factor: float = Field(default=2.0, ge=1)
    cap: PositiveDuration = "30s"  # type: ignore[assignment]
    max_attempts: int = Field(default=6, ge=1)
    max_elapsed: PositiveDuration = "2m"  # type: ignore[assignment]


class RoutingConfig(_Model):
    dedup_window: PositiveDuration = "5m"  # type: ignore[assignment]
    routes: list[Route] = Field(default_factory=list)
    mute_windows: dict[str, MuteWindowConfig] = Field(default_factory=dict)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    queue_size: int = Field(default=1000, ge=1)


# --------------------------------------------------------------------------- channels


class _Channel(_Model):
    timeout: PositiveDuration = "10s"  # type: ignore[assignment]
    #: NFR-002: deliveries under way at once on this channel (one at a time per fingerprint).
    max_in_flight: int = Field(default=8, ge=1, le=256)


class SlackChannel(_Channel):
    type: Literal["slack"]
    webhook_url: SecretStr
    channel: str | None = None
    username: str | None = None


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    ca_file: str | None = None
    verify_tls: bool = True


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = None
    signature_header: str = "X-DQ-Signature"


class KafkaChannel(_Channel, KafkaSecurity):
    """Forward to ``topic``: on the monitor's cluster (the router's producer), or, with
    ``bootstrap_servers``, on another cluster with its own security settings."""

    type: Literal["kafka"]
    topic: str = Field(min_length=1)
    bootstrap_servers: str | None = Field(default=None, min_length=1)


class AlertmanagerChannel(_Channel):
    """Prometheus Alertmanager's v2 API at ``url`` (its base, e.g. ``http://am:9093``)."""

    type: Literal["alertmanager"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Static labels added to every alert (e.g. ``team``), for Alertmanager's own routing.
    labels: dict[str, str] = Field(default_factory=dict)
    #: A firing alert's ``endsAt`` this far ahead; reminders push it on. Must exceed
    #: ``routing.dedup_window`` or Alertmanager resolves it between reminders.
    resolve_timeout: PositiveDuration = "1h"  # type: ignore[assignment]
    generator_url: str | None = None


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2: trigger and resolve, ``dedup_key`` = the alert fingerprint."""

    type: Literal["pagerduty"]
    routing_key: SecretStr
    url: str = "https://events.pagerduty.com/v2/enqueue"


ChannelConfig = Annotated[
    SlackChannel | EmailChannel | WebhookChannel | KafkaChannel | AlertmanagerChannel
    | PagerDutyChannel,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("slack", "email", "webhook", "kafka", "alertmanager", "pagerduty")


# --------------------------------------------------------------------------- rest


class TelemetryConfig(_Model):
    http_port: int | None = Field(default=9464, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    otlp_endpoint: str | None = None
    service_name: str = "dq-monitor"
    #: FR-019: bearer token for the API's write endpoints (use ``${VAR}``). Without one, writes
    #: are allowed only while ``http_host`` is a loopback address.
    api_token: SecretStr | None = None


class SchedulerConfig(_Model):
    """NFR-001: every check is re-evaluated at least every ``sweep_interval`` (at most 1 minute)."""

    sweep_interval: PositiveDuration = Field(default="30s", le=60)  # type: ignore[assignment]


class Config(_Model):
    """The whole configuration file."""

    kafka: KafkaConfig
    sources: list[SourceConfig] = Field(min_length=1)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)

    @cached_property
    def sources_by_name(self) -> dict[str, SourceConfig]:
        return {s.name: s for s in self.sources}


# --------------------------------------------------------------------------- loading

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def path_str(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """``('sources', 2, 'anomaly', 'window')`` → ``sources[2].anomaly.window``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def expand_env(
    node: Any, env: Mapping[str, str], errors: list[str], loc: tuple[Any, ...] = ()
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(node, dict):
        return {k: expand_env(v, env, errors, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env, errors, (*loc, i)) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(
            f"{path_str(loc)}: environment variable {name} is not set and has no default"
        )
        return ""

    return _VAR.sub(repl, node)


def _pydantic_errors(exc: ValidationError, raw: Any) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if len(loc) >= 3 and loc[0] == "channels" and loc[2] in CHANNEL_TYPES:
            del loc[2]  # the discriminator tag pydantic inserts is not a path in the file
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown channel type (expected one of {', '.join(CHANNEL_TYPES)})"
        elif err["type"] == "union_tag_not_found":
            msg = f"'type' is required (one of {', '.join(CHANNEL_TYPES)})"
        out.append(f"{path_str(loc)}: {msg}")
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _seconds(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _readable(path: Any, where: str) -> Iterator[str]:
    if not isinstance(path, str):
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        yield f"{where}: cannot read {path!r} ({exc.strerror})"


def _security_checks(section: dict[str, Any], base: str) -> Iterator[str]:
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


def _int_or(value: Any, default: int) -> int | None:
    if value is None:
        return default
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state_size_check(an: dict[str, Any], src: dict[str, Any], kafka: dict[str, Any],
                      base: str) -> Iterator[str]:
    """NFR-008: no series of this source may checkpoint a record the producer refuses."""
    limit = _int_or(kafka.get("max_request_size"), DEFAULT_MAX_REQUEST_SIZE)
    event_max = _int_or(kafka.get("max_event_bytes"), 1024 * 1024)
    window = _int_or(an.get("window"), 100)
    min_samples = _int_or(an.get("min_samples"), 20)
    rebaseline = _int_or(an.get("rebaseline_after"), 10)
    baseline = an.get("baseline", "robust")
    source = src.get("name")
    metrics = [m for m in _list(an.get("metrics")) if isinstance(m, str)]
    if (limit is None or event_max is None or window is None or min_samples is None
            or rebaseline is None or not isinstance(source, str) or not metrics):
        return
    bound = max((series_record_bound(source=source, metric=m, baseline=str(baseline),
                                     window=window, min_samples=min_samples,
                                     rebaseline_after=rebaseline, max_event_bytes=event_max)
                 for m in metrics),
                key=lambda b: b.total)
    if bound.total > limit:
        value = an.get(bound.largest, {"window": window, "min_samples": min_samples,
                                       "rebaseline_after": rebaseline}[bound.largest])
        yield (f"{base}.{bound.largest}: a series' checkpoint could reach {bound.total:,} "
               f"bytes with {bound.largest} {value}, over kafka.max_request_size "
               f"({limit:,} bytes), and could never be written; lower it, or raise "
               "kafka.max_request_size together with the brokers' message.max.bytes")


def _cross_checks(raw: dict[str, Any]) -> Iterator[str]:
    """Relations between fields, checked on the raw document wherever the fields are readable."""
    kafka = _dict(raw.get("kafka"))
    yield from _security_checks(kafka, "kafka")
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
    names: dict[str, int] = {}
    for i, src in enumerate(_list(raw.get("sources"))):
        src = _dict(src)
        name = src.get("name")
        if isinstance(name, str):
            if name in names:
                yield f"sources[{i}].name: duplicate source {name!r} (also sources[{names[name]}])"
            names.setdefault(name, i)
        an = _dict(src.get("anomaly"))
        base = f"sources[{i}].anomaly"
        zw_default, zf_default = SENSITIVITY.get(str(an.get("sensitivity", "medium")),
                                                 SENSITIVITY["medium"])
        zw, zf = _num(an.get("z_warn", zw_default)), _num(an.get("z_fail", zf_default))
        if zw is not None and zf is not None and not zw < zf:
            yield f"{base}.z_warn: must be below z_fail ({zw:g} >= {zf:g})"
        win, ms = _num(an.get("window", 100)), _num(an.get("min_samples", 20))
        if an and win is not None and ms is not None and win >= 2 and ms > win:
            yield f"{base}.min_samples: must not exceed window ({ms:g} > {win:g})"
        metrics = _list(an.get("metrics"))
        for j, m in enumerate(metrics):
            if m in metrics[:j]:
                yield f"{base}.metrics[{j}]: duplicate metric {m!r}"
        if an:
            yield from _state_size_check(an, src, kafka, base)
        comp = _dict(src.get("completeness"))
        for col, rule in _dict(comp.get("columns")).items():
            rule = _dict(rule)
            warn, fail = _num(rule.get("warn_null_rate")), _num(rule.get("max_null_rate"))
            if warn is not None and fail is not None and not warn < fail:
                yield (
                    f"sources[{i}].completeness.columns.{col}.warn_null_rate: must be below "
                    f"max_null_rate ({warn:g} >= {fail:g})"
                )
        for check in ("freshness", "completeness", "anomaly"):
            damp = _dict(src.get(check))
            if "flap_window" in damp and damp.get("max_flaps") is None:
                yield f"sources[{i}].{check}.flap_window: set max_flaps to enable flap damping"
    channels = _dict(raw.get("channels"))
    routing = _dict(raw.get("routing"))
    retry = _dict(routing.get("retry"))
    initial, cap = _seconds(retry.get("initial", "500ms")), _seconds(retry.get("cap", "30s"))
    if initial and cap and initial > cap:
        yield f"routing.retry.initial: must not exceed cap ({initial:g}s > {cap:g}s)"
    windows = _dict(routing.get("mute_windows"))
    for i, route in enumerate(_list(routing.get("routes"))):
        for j, w in enumerate(_list(_dict(route).get("mute"))):
            if isinstance(w, str) and w not in windows:
                known = ", ".join(sorted(windows)) or "none defined"
                yield (f"routing.routes[{i}].mute[{j}]: unknown mute window {w!r} "
                       f"(known: {known})")
        for j, ch in enumerate(_list(_dict(route).get("channels"))):
            if isinstance(ch, str) and ch not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                yield f"routing.routes[{i}].channels[{j}]: unknown channel {ch!r} (known: {known})"
    for name, ch in channels.items():
        ch = _dict(ch)
        if ch.get("type") == "email" and ch.get("tls") is True and ch.get("starttls") is True:
            yield f"channels.{name}.tls: tls (implicit TLS) and starttls are mutually exclusive"
        if ch.get("type") == "email" and ch.get("username") and not ch.get("password"):
            yield f"channels.{name}.password: required when username is set"
        if ch.get("type") == "alertmanager":
            ttl = _seconds(ch.get("resolve_timeout", "1h"))
            window = _seconds(routing.get("dedup_window", "5m"))
            if ttl and window and ttl <= window:
                yield (f"channels.{name}.resolve_timeout: must exceed routing.dedup_window "
                       f"({ttl:g}s <= {window:g}s), or Alertmanager resolves the alert "
                       "between reminders")
        if ch.get("type") == "kafka":
            if "bootstrap_servers" in ch:
                yield from _security_checks(ch, f"channels.{name}")
            else:
                for field in SECURITY_FIELDS:
                    if field in ch:
                        yield (f"channels.{name}.{field}: applies only with bootstrap_servers "
                               "(without it the channel uses the kafka section's connection)")


def _duplicate_keys(node: yaml.Node, loc: tuple[str | int, ...] = ()) -> Iterator[str]:
    """Keys given twice in one mapping: YAML would silently keep the last one."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key == "<<":
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                yield (f"{path_str((*loc, key))}: duplicate key (lines {seen[key]} and {line}); "
                       "give each key once")
            else:
                seen[key] = line
            yield from _duplicate_keys(value_node, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i))


def parse_config(
    text: str, *, env: Mapping[str, str] | None = None, file: str | None = None
) -> Config:
    """Validate a YAML document; raise ``ConfigError`` listing every problem by path."""
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates = list(_duplicate_keys(root)) if root is not None else []
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<root>"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}: {problem}"], file=file) from None
    if not isinstance(raw, dict):
        raise ConfigError(["<root>: the file must be a YAML mapping"], file=file)
    errors: list[str] = list(duplicates)
    expanded = expand_env(raw, env, errors)
    config: Config | None = None
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, expanded))
    errors.extend(_cross_checks(expanded))
    if errors:
        raise ConfigError(list(dict.fromkeys(errors)), file=file)
    assert config is not None
    return config


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"<file>: cannot read ({exc.strerror})"], file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"<file>: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                           f"offset {exc.start}); save the file as UTF-8"], file=str(p)) from None
    return parse_config(text, env=env, file=str(p))


def config_schema() -> dict[str, Any]:
    """JSON Schema of the configuration file (before ``${VAR}`` expansion, durations as strings)."""
    return Config.model_json_schema(mode="validation", by_alias=True)
