"""Wiring only: build the pieces from the config and run them in one task group until a signal."""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from aiokafka.errors import KafkaError

from dq_monitor.api import OperatorApi
from dq_monitor.collector import tuned_collector
from dq_monitor.config import Config, read_config, source_capacity
from dq_monitor.errors import ConfigError, DqMonitorError, KafkaAccessError
from dq_monitor.kafka import check_access
from dq_monitor.logs import setup_logging
from dq_monitor.reload import Apply, ConfigReloader
from dq_monitor.silence import SilenceBook
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor")

#: After a stop signal, in-flight work gets this long to finish, flush and commit.
SHUTDOWN_GRACE_S = 8.0


def start_summary(config: Config) -> str:
    checks = sum(
        (s.freshness is not None) + (s.completeness is not None) + (s.anomaly is not None)
        + bool(s.thresholds)
        for s in config.sources
    )
    k = config.kafka
    return (
        f"dq-monitor starting: {len(config.sources)} source(s), {checks} check(s); "
        f"input {', '.join([*k.input_topics, *k.openlineage_topics])} → alerts {k.alert_topic}, "
        f"dead letters {k.dead_letter_topic}; group {k.group_id}; broker {k.bootstrap_servers}; "
        f"{len(config.channels)} channel(s)"
    )


async def serve(config: Config, *, with_router: bool = True, with_monitor: bool = True,
                path: Path | None = None, config_hash: str = "") -> bool:
    """Run until SIGTERM/SIGINT, then stop fetching, finish, flush, commit and return.

    Given the ``path`` the config was read from (and its ``config_hash``), SIGHUP and
    ``POST /-/reload`` re-read it and apply it to every part without a restart (FR-025).

    Returns False when a service gave up on an error it cannot outlive (``DqMonitorError``,
    e.g. state that cannot be restored): the others are stopped cleanly and the process exits
    non-zero so an orchestrator restarts it.
    """
    stop = anyio.Event()
    work = anyio.CancelScope()
    failures: list[DqMonitorError] = []

    async def fatal(run: Callable[[anyio.Event], Awaitable[None]]) -> None:
        try:
            await run(stop)
        except DqMonitorError as exc:
            log.error("stopping: %s", exc)
            failures.append(exc)
            stop.set()

    async def watch_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for sig in signals:
                log.info("received %s: stopping", signal.Signals(sig).name)
                stop.set()
                break
        await anyio.sleep(SHUTDOWN_GRACE_S)
        log.warning("shutdown took over %.0fs; exiting", SHUTDOWN_GRACE_S)
        work.cancel()

    try:  # FR-020: a refused certificate or credential is one clear line, not a retry loop
        await check_access(config.kafka, config.kafka.bootstrap_servers)
    except KafkaAccessError as exc:
        log.error("%s", exc)
        return False
    except (OSError, KafkaError):
        pass  # unreachable for now: the services retry, and probe again when it answers
    telemetry = Telemetry(config.telemetry, sources=source_capacity(config.sources))
    silences = SilenceBook(config.kafka)
    monitor = None
    if with_monitor:
        from dq_monitor.ingest.service import MonitorService

        monitor = MonitorService(config, telemetry=telemetry)
    api = OperatorApi(config, telemetry, silences=silences,
                      monitor=monitor.monitor if monitor is not None else None)
    router = None
    if with_router and config.channels:
        from dq_monitor.routing.router import AlertRouter

        router = AlertRouter(config, telemetry=telemetry, silences=silences)
    reloader = None
    if path is not None:
        parts: list[Apply] = [p.reconfigure for p in (monitor, router) if p is not None]
        reloader = ConfigReloader(path, config, config_hash, telemetry,
                                  parts=[*parts, api.reconfigure],
                                  fixed=_fixed_parts(with_router and router is None))
        api.reloader = reloader

    async def watch_reload() -> None:
        assert reloader is not None
        with anyio.open_signal_receiver(signal.SIGHUP) as signals:
            async for _ in signals:
                log.info("received SIGHUP: reloading %s", reloader.path)
                await reloader.reload("SIGHUP")

    serving = bool(await api.start())
    try:
        async with anyio.create_task_group() as outer:
            outer.start_soon(watch_signals)
            if reloader is not None:
                outer.start_soon(watch_reload)
            with work:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(fatal, silences.run)
                    if serving:
                        tg.start_soon(api.run, stop)
                    if monitor is not None:
                        tg.start_soon(fatal, monitor.run)
                    if router is not None:
                        tg.start_soon(fatal, router.run)
            outer.cancel_scope.cancel()
    finally:
        await api.aclose()
        await telemetry.aclose()
    return not failures


def _fixed_parts(no_router: bool) -> Callable[[Config], list[str]]:
    """What a reload cannot add to this process: a router, when it started without one."""
    def check(config: Config) -> list[str]:
        if no_router and config.channels:
            return ["restart needed: channels (this process started without channels, so "
                    "without the alert router)"]
        return []
    return check


def main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    try:
        config, digest = read_config(args.config)
    except ConfigError as exc:
        print(f"dq-monitor: {exc}", file=sys.stderr)
        return 2
    log.info(start_summary(config))
    try:
        with tuned_collector():
            healthy = anyio.run(functools.partial(
                serve, config, with_router=not args.no_router, with_monitor=not args.router_only,
                path=Path(args.config), config_hash=digest))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    if not healthy:
        log.error("dq-monitor stopped on an error")
        return 1
    log.info("dq-monitor stopped")
    return 0
