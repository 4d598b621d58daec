"""One trace per alert: triggering event → check → alert topic → each channel delivery.

The W3C ``traceparent`` travels in Kafka record headers: an input event that carries one makes
its alert a child of the producer's trace; the alert record carries the alert's own context so
the router's delivery spans join the same trace. Only alerts are traced — healthy events cost
nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dq_monitor.events import Alert

HEADER = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()

Headers = Iterable[tuple[str, bytes]]


def extract(headers: Headers | None) -> Context | None:
    """The trace context of a record's ``traceparent`` header, if it has a valid one."""
    for key, value in headers or ():
        if key == HEADER and value:
            ctx = _PROPAGATOR.extract({HEADER: value.decode("latin-1")})
            if trace.get_current_span(ctx).get_span_context().is_valid:
                return ctx
    return None


def header_of(span: Span) -> tuple[str, bytes]:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return HEADER, carrier.get(HEADER, "").encode()


def start_alert_span(tracer: Tracer, alert: Alert, parent: Context | None,
                     triggered_at: datetime) -> Span:
    """The alert's root span, starting when its cause happened (event time or deadline)."""
    span = tracer.start_span(
        f"alert {alert.check} {alert.status}", context=parent,
        start_time=int(triggered_at.timestamp() * 1e9),
        attributes={"dq.check": alert.check, "dq.source": alert.source,
                    "dq.subject": alert.subject or "", "dq.severity": alert.severity,
                    "dq.status": alert.status, "dq.fingerprint": alert.fingerprint,
                    "dq.requirement": alert.requirement},
    )
    with trace.use_span(span, end_on_exit=False):
        tracer.start_span("check", start_time=int(triggered_at.timestamp() * 1e9)).end(
            end_time=int(alert.detected_at.timestamp() * 1e9))
    return span
