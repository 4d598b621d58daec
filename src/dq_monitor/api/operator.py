"""FR-019: the telemetry port's endpoints, from ``/metrics`` to the silences API.

=========================  ==========================================================
``GET /``                  status page (HTML)
``GET /metrics``           Prometheus metrics; ``/healthz``, ``/readyz`` as before
``GET /api/v1/alerts``     firing alerts of the deployment (``AlertsResponse``)
``GET /api/v1/sources``    per-source state (``SourcesResponse``)
``GET /api/v1/lineage``    lineage learned from OpenLineage runs (``LineageResponse``)
``GET /api/v1/silences``   silences (``?expired`` adds those ended in the last week)
``POST /api/v1/silences``  create one (``SilenceRequest``) → 201 and the silence
``GET|DELETE /api/v1/silences/{id}``   show one / expire it now
``POST /api/v1/alerts/{fingerprint}/ack``   FR-027: acknowledge a firing alert (``AckRequest``)
``POST /-/reload``         FR-025: re-read the config file → 200, or 400 with every error
=========================  ==========================================================

Write requests need ``Authorization: Bearer <telemetry.api_token>`` when a token is configured;
without one they are allowed only when the port is bound to loopback; either way they must be
addressed to this server, from no foreign origin, as JSON (``api.guard``, NFR-008). Bad requests
get a 4xx with ``{"error": reason}``. The routes are plain code over ``api.exchange`` values;
``api.server`` serves them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from dq_monitor.acks import AckBook, AckRequest
from dq_monitor.api import page, views
from dq_monitor.api.exchange import Request, Response, error, json_response
from dq_monitor.api.firing import FiringView
from dq_monitor.api.guard import WriteGuard
from dq_monitor.api.server import HttpServer, Limits
from dq_monitor.config import Config
from dq_monitor.errors import UnknownSilence
from dq_monitor.events import Alert
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.routing.inhibit import Inhibitor, LearnedLineage, Lineage
from dq_monitor.silence import Silence, SilenceBook, SilenceRequest, SilenceSet, SilenceView
from dq_monitor.telemetry import Telemetry

if TYPE_CHECKING:
    from dq_monitor.monitor import Monitor
    from dq_monitor.reload import ConfigReloader

log = logging.getLogger(__name__)

SILENCES = "/api/v1/silences"
ALERTS = "/api/v1/alerts"
#: FR-027: ``POST /api/v1/alerts/{fingerprint}/ack``.
ACK = "/ack"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def validation_reason(exc: ValidationError) -> str:
    """Every problem of a request body, each named by its field."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


class OperatorApi:
    def __init__(
        self,
        config: Config,
        telemetry: Telemetry,
        *,
        silences: SilenceBook | None = None,
        firing: FiringView | None = None,
        firing_loaded: Callable[[], bool] = lambda: True,  # with ``firing`` only
        acks: AckBook | None = None,
        monitor: Monitor | None = None,
        clock: Callable[[], float] = time.time,
        instance: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.config, self.telemetry = config, telemetry
        self.silences, self.monitor, self.clock = silences, monitor, clock
        #: FR-019: without a given view, every instance reads the whole alert topic itself, so
        #: any of them lists what fires in the deployment (``run`` follows it).
        self.feed: TopicTail | None = None
        #: FR-027: which firing alerts inhibit which (the router's rules, on the same view).
        self.inhibitor = Inhibitor(config.routing.inhibit,
                                   downstream=config.routing.inhibit_downstream)
        self.learned = LearnedLineage()
        self._lineage_version = -1
        if firing is None:
            view = firing = FiringView()
            inhibitor = self.inhibitor

            def apply(record: ConsumerRecord[bytes, bytes]) -> None:
                view.apply_record(record.value)
                with contextlib.suppress(ValidationError, ValueError, TypeError):  # counted above
                    inhibitor.observe(Alert.from_json(record.value or b""))

            self.feed = TopicTail(config.kafka, config.kafka.alert_topic, apply)
            firing_loaded = self.feed.loaded.is_set
        #: FR-027: acknowledgements, followed (and written) by this process too.
        self.acks = acks if acks is not None else AckBook(config.kafka)
        self._own_acks = acks is None
        self.firing = firing
        self.firing_loaded = firing_loaded
        self.instance = instance or socket.gethostname()
        self._server = HttpServer(self.handle, limits)
        self._guard: WriteGuard | None = None
        self._bound: tuple[str, int] | None = None
        #: FR-025: the process's reloader (``POST /-/reload``; the page shows its file's hash).
        self.reloader: ConfigReloader | None = None

    def _make_guard(self) -> None:
        if self._bound is None:
            return
        tel = self.config.telemetry
        token = tel.api_token
        self._guard = WriteGuard(
            token=None if token is None else token.get_secret_value(),
            bind_host=self._bound[0], port=self._bound[1], allowed_hosts=tel.allowed_hosts)

    async def reconfigure(self, config: Config) -> None:
        """FR-025: serve views and check tokens by ``config`` from the next request on (the
        listener itself is a restart: a reload refuses other ``telemetry`` changes)."""
        self.config = config
        self.inhibitor.configure(config.routing.inhibit,
                                 downstream=config.routing.inhibit_downstream)
        self._lineage_version = -1
        self._make_guard()

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Serve on ``telemetry.http_host:http_port`` (or these); returns the bound port, 0 when
        ``http_port`` is null (nothing served)."""
        tel = self.config.telemetry
        bind_port = tel.http_port if port is None else port
        if bind_port is None:
            return 0
        bind_host = host or tel.http_host
        bound = await self._server.start(bind_host, bind_port)
        self._bound = (bind_host, bound)
        self._make_guard()
        log.info("telemetry and operator API on http://%s:%d/ (/metrics, /api/v1/...)",
                 bind_host, bound)
        return bound

    async def run(self, stop: anyio.Event) -> None:
        """Follow the alert topic for the firing view (and the acknowledgements, and for
        learned lineage the changelog), until ``stop``."""
        async with anyio.create_task_group() as tg:
            if self._own_acks:
                tg.start_soon(self.acks.run, stop)
            if self.feed is not None and self.config.kafka.openlineage_topics:
                lineage = TopicTail(self.config.kafka, self.config.kafka.changelog,
                                    lambda r: self.learned.apply(r.key, r.value))
                tg.start_soon(lineage.run, stop)
            if self.feed is not None:
                await self.feed.run(stop)
            tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        await self._server.aclose()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path.startswith(ALERTS + "/") and path.endswith(ACK):
            if req.method != "POST":
                return error(405, f"{req.method} is not allowed on an acknowledgement",
                             ("Allow", "POST"))
            if (refused := self._refuse_write(req)) is not None:
                return refused
            return await self._ack(req, path[len(ALERTS) + 1:-len(ACK)])
        if path.startswith(SILENCES + "/"):
            if req.method not in ("GET", "HEAD", "DELETE"):
                return error(405, f"{req.method} is not allowed on a silence",
                             ("Allow", "DELETE, GET"))
            if (refused := self._refuse_write(req)) is not None:
                return refused
            return await self._one_silence(req, path[len(SILENCES) + 1:])
        routes: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {
            "/": {"GET": self._page}, "/metrics": {"GET": self._metrics},
            "/healthz": {"GET": self._healthz}, "/readyz": {"GET": self._readyz},
            "/api/v1/alerts": {"GET": self._alerts}, "/api/v1/sources": {"GET": self._sources},
            "/api/v1/lineage": {"GET": self._lineage},
            SILENCES: {"GET": self._list_silences, "POST": self._add_silence},
            "/-/reload": {"POST": self._reload},
        }
        methods = routes.get(path)
        if methods is None:
            return error(404, f"no such endpoint: {req.path}")
        if req.method == "HEAD" and "GET" in methods:
            return await methods["GET"](req)  # the server sends its head only
        handler = methods.get(req.method)
        if handler is None:
            return error(405, f"{req.method} is not allowed on {path}",
                         ("Allow", ", ".join(sorted(methods))))
        if (refused := self._refuse_write(req)) is not None:
            return refused
        return await handler(req)

    def _refuse_write(self, req: Request) -> Response | None:
        """NFR-008: a write that is not plainly this server's own operator's is refused."""
        if req.method not in WRITE_METHODS:
            return None
        if self._guard is None:
            return error(503, "not serving yet")
        refusal = self._guard.check(req.method, req.headers, req.local)
        if refusal is None:
            return None
        return error(refusal.status, refusal.reason, *refusal.headers)

    # ------------------------------------------------------------------ telemetry

    async def _metrics(self, req: Request) -> Response:
        return Response(200, await self.telemetry.render_metrics(), CONTENT_TYPE_LATEST)

    async def _healthz(self, req: Request) -> Response:
        return Response(200, b"ok\n", "text/plain")

    async def _readyz(self, req: Request) -> Response:
        ok, checks = self.telemetry.readiness()
        lines = "".join(f"{k}: {'ok' if v else 'not ready'}\n" for k, v in checks.items())
        return Response(200 if ok else 503, lines.encode() or b"starting\n", "text/plain")

    # ------------------------------------------------------------------ views

    def _silence_set(self) -> SilenceSet:
        return self.silences.set if self.silences is not None else SilenceSet()

    def _not_loaded(self) -> Response | None:
        if not self.firing_loaded():
            return error(503, "still reading the alert topic; try again in a moment",
                         ("Retry-After", "2"))
        if self.silences is not None and not self.silences.loaded.is_set():
            return error(503, "still reading the silences topic; try again in a moment",
                         ("Retry-After", "2"))
        return None

    def _alerts_view(self, now: datetime) -> views.AlertsResponse:
        if self._lineage_version != self.learned.version:
            self._lineage_version = self.learned.version
            self.inhibitor.set_lineage(Lineage.merged(
                {s.name: s.upstream for s in self.config.sources
                 if s.name is not None and s.upstream}, self.learned.graph()))
        inhibitor = self.inhibitor if self.feed is not None else None
        return views.alerts_view(self.instance, self.firing, self._silence_set(), now,
                                 inhibitor, self.acks)

    def _sources_view(self, now: datetime) -> views.SourcesResponse:
        return views.sources_view(self.instance, self.config, self.monitor, self.firing, now,
                                  self.telemetry.delivery_status())

    async def _alerts(self, req: Request) -> Response:
        if (busy := self._not_loaded()) is not None:
            return busy
        return json_response(200, self._alerts_view(self.now()).model_dump(mode="json"))

    async def _sources(self, req: Request) -> Response:
        return json_response(200, self._sources_view(self.now()).model_dump(mode="json"))

    async def _lineage(self, req: Request) -> Response:
        view = views.lineage_view(self.instance, self.monitor, self.now())
        return json_response(200, view.model_dump(mode="json"))

    async def _page(self, req: Request) -> Response:
        if (busy := self._not_loaded()) is not None:
            return busy
        now = self.now()
        loaded = self.reloader
        html = page.render(self._alerts_view(now), self._sources_view(now),
                           views.silences_view(self._silence_set(), now, expired=False), now,
                           service=self.config.telemetry.service_name,
                           config=None if loaded is None else (loaded.config_hash,
                                                               loaded.loaded_at))
        return Response(200, html, "text/html; charset=utf-8")

    async def _reload(self, req: Request) -> Response:
        """FR-025: validate and apply the config file; 400 lists every error by path."""
        if self.reloader is None:
            return error(404, "this process was not started from a configuration file")
        result = await self.reloader.reload("POST /-/reload")
        return json_response(200 if result.ok else 400, result.body())

    # ------------------------------------------------------------------ acknowledgements

    async def _ack(self, req: Request, fingerprint: str) -> Response:
        """FR-027: acknowledge a firing alert: its reminders (or its group's) stop until it
        resolves or escalates."""
        if "json" not in req.headers.get("content-type", "application/json"):
            return error(415, "send the request as application/json")
        try:
            request = AckRequest.model_validate_json(req.body or b"{}")
        except ValidationError as exc:
            return error(400, validation_reason(exc))
        if (busy := self._not_loaded()) is not None:
            return busy
        if not any(f.alert.fingerprint == fingerprint for f in self.firing.firing()):
            return error(404, f"alert {fingerprint[:64]!r}: no such firing alert")
        try:
            ack = await self.acks.add(fingerprint, request, self.now())
        except (KafkaError, OSError) as exc:
            return error(503, f"the acknowledgement was not stored: cannot write to "
                              f"{self.acks.topic} ({type(exc).__name__}); try again",
                         ("Retry-After", "5"))
        return json_response(201, ack.model_dump(mode="json"))

    # ------------------------------------------------------------------ silences

    async def _list_silences(self, req: Request) -> Response:
        if (busy := self._not_loaded()) is not None:
            return busy
        body = views.silences_view(self._silence_set(), self.now(), expired=req.flag("expired"))
        return json_response(200, body.model_dump(mode="json"))

    async def _add_silence(self, req: Request) -> Response:
        if self.silences is None:
            return error(404, "this process keeps no silences")
        try:
            request = SilenceRequest.model_validate_json(req.body or b"{}")
        except ValidationError as exc:
            return error(400, validation_reason(exc))
        return await self._store(201, self.silences.add(request, self.now()))

    async def _one_silence(self, req: Request, silence_id: str) -> Response:
        if self.silences is None:
            return error(404, "this process keeps no silences")
        if (busy := self._not_loaded()) is not None:
            return busy
        now = self.now()
        if req.method in ("GET", "HEAD"):
            silence = self.silences.set.get(silence_id)
            if silence is None:
                return error(404, f"silence {silence_id!r}: no such silence")
            return json_response(200, SilenceView.of(silence, now).model_dump(mode="json"))
        return await self._store(200, self.silences.expire(silence_id, now))  # DELETE

    async def _store(self, status: int, write: Coroutine[Any, Any, Silence]) -> Response:
        """Answer a silence write: the stored silence, or why nothing changed."""
        assert self.silences is not None
        try:
            silence = await write
        except UnknownSilence as exc:
            return error(404, str(exc))
        except ValueError as exc:
            return error(400, str(exc))
        except (KafkaError, OSError) as exc:
            return error(503, f"the silence was not stored: cannot write to "
                              f"{self.silences.topic} ({type(exc).__name__}); nothing changed, "
                              "try again", ("Retry-After", "5"))
        return json_response(status, SilenceView.of(silence, self.now()).model_dump(
            mode="json"))
