"""OpenTelemetry metrics (NFR-002), served as Prometheus ``/metrics`` beside ``/healthz`` and
``/readyz``, and pushed by OTLP when ``telemetry.otlp_endpoint`` is set; traces of each alert's
path, exported by OTLP (see ``tracing``).

Latency histograms use explicit second-buckets fine enough to read a p95 well below 200 ms.
Each ``Telemetry`` owns its own provider and registry (no process globals), so several can live
in one process (tests, the demo).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracer, Tracer
from prometheus_client import CollectorRegistry, generate_latest

from dq_monitor.config import TelemetryConfig
from dq_monitor.exposition import Family, SampleText, family

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.125,
    0.15, 0.175, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)

Gauge = Callable[[], Iterable[tuple[float, dict[str, Any]]]]

#: The instruments read at scrape time (``Telemetry.gauge``): name, kind, unit, description.
SCRAPE_TIME = (
    ("dq_series_tracked", "gauge", "", "Anomaly series held in memory"),
    ("dq_consumer_lag", "gauge", "", "Records behind the end of each input partition "
                                     "(approximate on brokers whose high watermark is "
                                     "approximate)"),
    ("dq_channel_backlog", "gauge", "", "Alerts not yet delivered, per channel: queued or in "
                                        "flight, plus alert records a channel that fell behind "
                                        "has not read yet"),
    ("dq_delivery_age", "gauge", "s", "Seconds since the oldest alert not yet delivered on a "
                                      "channel was triggered (0 when none waits)"),
    ("dq_state_restore", "gauge", "s", "Seconds the last state restore of each state topic "
                                       "took, from its first read to every key applied"),
    # a counter kept by the core (cumulative over the process), read at scrape time too
    ("dq_series_evicted", "counter", "", "Anomaly series evicted after series_ttl without a "
                                         "value (NFR-008)"),
)
#: How long an OTLP export waits at most for the event loop to read a gauge.
OTLP_READ_TIMEOUT_S = 5.0
#: Set while a Prometheus scrape collects from OpenTelemetry: the scrape-time instruments'
#: callbacks then give nothing (the scrape writes them itself); OTLP export still reads them.
_PROMETHEUS_SCRAPE: ContextVar[bool] = ContextVar("dq_prometheus_scrape", default=False)


@dataclass(frozen=True, slots=True)
class ChannelDelivery:
    """One channel's delivery backlog now (NFR-002, FR-010)."""

    channel: str
    #: Alerts not yet delivered (``dq_channel_backlog``).
    backlog: int
    #: Seconds since the oldest of them was triggered; ``None`` when none waits.
    age_s: float | None
    #: The channel fell behind: it reads the alert topic at its own, older position.
    behind: bool


#: OpenTelemetry's default cardinality limit: past this many attribute sets, an instrument folds
#: the rest into one ``otel_metric_overflow`` series.
DEFAULT_CARDINALITY = 2000
#: The per-source instruments: one series for each source watched.
PER_SOURCE = ("dq_series_tracked", "dq_series_evicted")


def per_source_limit(sources: int) -> int:
    """The cardinality limit of the per-source views for a configuration that can watch
    ``sources`` sources: twice that (room for sources a reload adds), never below the default."""
    return max(DEFAULT_CARDINALITY, 2 * sources)


def _meter_provider(cfg: TelemetryConfig, registry: CollectorRegistry,
                    resource: Resource, sources: int) -> MeterProvider:
    readers: list[MetricReader] = [
        PrometheusMetricReader(registry=registry, scope_info_enabled=False)]
    if cfg.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        endpoint = cfg.otlp_endpoint.rstrip("/") + "/v1/metrics"
        readers.append(PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint), export_interval_millis=10_000))
    latency_view = ExplicitBucketHistogramAggregation(boundaries=LATENCY_BUCKETS)
    return MeterProvider(
        metric_readers=readers,
        resource=resource,
        views=[
            View(instrument_name="dq_alert_latency", aggregation=latency_view),
            View(instrument_name="dq_detection_latency", aggregation=latency_view),
            *(View(instrument_name=name,
                   aggregation_cardinality_limit=per_source_limit(sources))
              for name in PER_SOURCE),
        ],
    )


class Telemetry:
    """The monitor's instruments. Names are stable: dashboards and alert rules query them."""

    def __init__(
        self, cfg: TelemetryConfig | None = None, *, span_exporter: SpanExporter | None = None,
        enabled: bool = True, sources: int = 0,
    ) -> None:
        """``enabled=False`` (``Telemetry.disabled()``): every instrument and the tracer are
        OpenTelemetry's no-ops, so callers record unconditionally at almost no cost.

        ``sources``: how many sources the configuration can watch (``source_capacity``); the
        per-source metrics keep one correct series for each (``per_source_limit``) instead of
        folding those past OpenTelemetry's default 2,000 into an overflow series."""
        self.cfg = cfg or TelemetryConfig()
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self.provider: MeterProvider | None = None
        self.tracer_provider: TracerProvider | None = None
        meter: Meter = NoOpMeter("dq_monitor")
        resource = Resource.create({"service.name": self.cfg.service_name})
        if enabled:
            self.provider = _meter_provider(self.cfg, self.registry, resource, sources)
            meter = self.provider.get_meter("dq_monitor")
        self.alert_latency = meter.create_histogram(
            "dq_alert_latency", unit="s",
            description="Triggering event (Kafka timestamp) or freshness deadline to the "
                        "moment a channel's delivery of the alert ended: accepted "
                        "(outcome=delivered) or given up (outcome=dead_lettered)")
        self.detection_latency = meter.create_histogram(
            "dq_detection_latency", unit="s",
            description="Triggering event or deadline to the alert being durable on the "
                        "alert topic")
        self.events = meter.create_counter(
            "dq_events_consumed", description="Input records consumed, by topic and type")
        self.dead_letters = meter.create_counter(
            "dq_dead_letters", description="Records written to the dead-letter topic, by kind")
        self.alerts = meter.create_counter(
            "dq_alerts_emitted", description="Alert events written, by check/severity/status")
        self.deliveries = meter.create_counter(
            "dq_deliveries",
            description="Channel deliveries by outcome: ok, retried, deduplicated, failed")
        self.restore_failures = meter.create_counter(
            "dq_state_restore_failures",
            description="Failed attempts to restore owned state from a state topic (NFR-006)")
        self.records_replayed = meter.create_counter(
            "dq_state_records_replayed",
            description="Changelog records read by state restores (NFR-001): about the live "
                        "keys plus the tail since the last complete snapshot")
        self.unwritable = meter.create_counter(
            "dq_unwritable_records",
            description="Records the cluster or the producer refused for good (NFR-008), never "
                        "retried: by topic, error and action (dead_lettered, skipped)")
        self.config_reloads = meter.create_counter(
            "dq_config_reloads",
            description="Configuration reloads (FR-025) by result: ok, invalid, refused")
        #: Sources the per-source metrics keep a series for; more fold into an overflow series.
        self.source_room = per_source_limit(sources)
        self._gauges: dict[str, Gauge] = {}
        #: The event loop that fed the gauges (and its thread): OTLP export reads them there.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._scrape = asyncio.Lock()
        #: The exposition family of each scrape-time instrument (``gauge``), which a scrape
        #: writes itself (``exposition``) instead of through OpenTelemetry's reader.
        self._families: dict[str, Family] = {}
        self._samples = SampleText()
        for name, kind, unit, description in SCRAPE_TIME:
            self._families[name] = family(name, kind, unit, description)
            create = (meter.create_observable_counter if kind == "counter"
                      else meter.create_observable_gauge)
            create(name, callbacks=[self._observe(name)], description=description, unit=unit)
        self.ready_checks: dict[str, Callable[[], bool]] = {}
        #: NFR-002: each channel's delivery backlog, for the status page and ``/api/v1``
        #: (fed by the router; empty without one).
        self.delivery_status: Callable[[], list[ChannelDelivery]] = list
        self.tracer: Tracer = NoOpTracer()
        if enabled and span_exporter is None and self.cfg.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter(
                endpoint=self.cfg.otlp_endpoint.rstrip("/") + "/v1/traces")
        #: Spans go somewhere: an exporter is configured. Without one the tracer is
        #: OpenTelemetry's no-op and the alert path makes no spans and no ``traceparent``
        #: headers (NFR-003: recording spans nobody exports cost most of publishing an alert).
        self.tracing = enabled and span_exporter is not None
        if self.tracing:
            assert span_exporter is not None
            self.tracer_provider = TracerProvider(resource=resource)
            self.tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
            self.tracer = self.tracer_provider.get_tracer("dq_monitor")

    @classmethod
    def disabled(cls) -> Telemetry:
        """Instruments that record nothing: for code run without a telemetry port (tests,
        benchmarks, embedding), instead of ``if telemetry is not None`` at every call."""
        return cls(enabled=False)

    def _observe(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The instrument's callback, for OTLP export: a Prometheus scrape writes these
        families itself and gets nothing from here."""
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            source = self._gauges.get(name)
            if source is None or _PROMETHEUS_SCRAPE.get():
                return []
            timeout = min(options.timeout_millis / 1000, OTLP_READ_TIMEOUT_S)
            return [Observation(value, attrs) for value, attrs in self._read(source, timeout)]

        return callback

    def _read(self, source: Gauge, timeout: float) -> list[tuple[float, dict[str, Any]]]:
        """A gauge's values, read on the event loop that fed it: its source is live state only
        that loop may read, and OTLP export collects from the exporter's own thread. Nothing
        when the loop does not get to it within ``timeout`` seconds (busy, or stopped)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread or loop.is_closed():
            return list(source())

        async def take() -> list[tuple[float, dict[str, Any]]]:
            return list(source())

        future = asyncio.run_coroutine_threadsafe(take(), loop)
        try:
            return future.result(timeout)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError,
                RuntimeError):
            future.cancel()
            log.warning("OTLP export: the event loop did not read the gauges within %.1fs; "
                        "this export leaves them out", timeout)
            return []

    def gauge(self, name: str, source: Gauge) -> None:
        """Feed ``dq_series_tracked``, ``dq_consumer_lag``, ``dq_channel_backlog`` or
        ``dq_delivery_age_seconds`` (``dq_delivery_age``), ``dq_state_restore_seconds``
        (``dq_state_restore``), gauges, or ``dq_series_evicted`` (a
        counter: the callable gives running totals) from a callable read at scrape time.
        Called on the event loop (as the services do), the callable is only ever read there."""
        self._gauges[name] = source
        try:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        except RuntimeError:
            pass  # fed outside a loop (tests, tools): read where it is collected

    # ------------------------------------------------------------------ exposition (served by
    # ``api.operator`` on the telemetry port)

    def _taken(self) -> list[tuple[Family, list[tuple[float, dict[str, Any]]]]]:
        """Each scrape-time instrument's samples now (reads the gauges' sources)."""
        if not self.enabled:
            return []
        return [(self._families[name], list(source()))
                for name, source in self._gauges.items() if name in self._families]

    def _instrumented_text(self) -> bytes:
        """The exposition of the counters and histograms (through OpenTelemetry's reader);
        the scrape-time instruments give it no samples."""
        token = _PROMETHEUS_SCRAPE.set(True)
        try:
            return generate_latest(self.registry)
        finally:
            _PROMETHEUS_SCRAPE.reset(token)

    def metrics_text(self) -> bytes:
        """The Prometheus exposition, rendered here and now (reads the gauges' sources)."""
        parts = [self._instrumented_text().decode()]
        for fam, samples in self._taken():
            parts.extend(self._samples.chunks(fam, samples))
        return "".join(parts).encode()

    async def render_metrics(self) -> bytes:
        """``metrics_text`` for ``GET /metrics`` without stalling the event loop (NFR-003):
        at 10,000 sources the per-source gauges are 10,000 samples. Their sources (the
        monitor's live state, which only the loop may read) are read on the loop, a list per
        gauge, and written on the loop ``exposition.CHUNK`` samples at a time, handing the loop
        back between chunks; the counters and histograms (a few hundred samples, through
        OpenTelemetry) render in a worker thread, safe because the SDK's aggregations lock.
        One scrape renders at a time."""
        async with self._scrape:
            taken = self._taken()
            await asyncio.sleep(0)
            parts = [(await asyncio.to_thread(self._instrumented_text)).decode()]
            for fam, samples in taken:
                for chunk in self._samples.chunks(fam, samples):
                    parts.append(chunk)
                    await asyncio.sleep(0)  # the loop serves what waits, then the next chunk
            return "".join(parts).encode()

    def readiness(self) -> tuple[bool, dict[str, bool]]:
        checks = {name: bool(check()) for name, check in self.ready_checks.items()}
        return all(checks.values()) and bool(checks), checks

    async def aclose(self) -> None:
        """Shut the providers down in a worker thread: with OTLP configured, shutting down
        exports once more (up to the exporter's 10 s timeout), which must not hold the event
        loop (nor, when the collector answers from this loop, time out against it)."""
        for provider in (self.provider, self.tracer_provider):
            if provider is not None:
                await asyncio.to_thread(provider.shutdown)
