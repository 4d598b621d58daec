"""FR-025 hot reload: re-read the configuration file, validate it whole, then hand it to every
part of the running process, without a restart and without losing state.

A reload is asked for by ``SIGHUP`` or ``POST /-/reload``; one runs at a time. The file is
validated exactly as at start-up (every error by path); an invalid file is refused and the
running configuration stays. So is a file that changes what only a restart can change: the
Kafka connection and group (``kafka.*``), the observed topics (``observe``) and the HTTP
listener and telemetry exporters (``telemetry.*`` but ``api_token``): "restart needed:
kafka.group_id". A valid file is applied by each part in turn (the monitor between two
batches, then the router, then the API) and counted in ``dq_config_reloads_total{result}``
(``ok``, ``invalid``, ``refused``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from dq_monitor.config import Config, read_config, source_capacity
from dq_monitor.errors import ConfigError
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor.reload")

#: The telemetry fields a reload may change; the others are bound at start-up.
_RELOADABLE_TELEMETRY = frozenset({"api_token"})

Apply = Callable[[Config], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``result`` is ``ok``, ``invalid`` or ``refused``; ``errors`` name
    every problem by path (``sources[2].anomaly.window: ...``)."""

    result: str
    errors: tuple[str, ...] = ()
    config_hash: str | None = None
    loaded_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    def body(self) -> dict[str, Any]:
        """The JSON answer of ``POST /-/reload``."""
        if self.ok:
            assert self.loaded_at is not None
            return {"result": "ok", "config_hash": self.config_hash,
                    "loaded_at": self.loaded_at.isoformat().replace("+00:00", "Z")}
        reason = ("the configuration is invalid" if self.result == "invalid"
                  else "the change needs a restart")
        return {"error": f"{reason}; the running configuration stays", "errors":
                list(self.errors)}


def restart_needed(old: Config, new: Config) -> list[str]:
    """The changed fields a reload cannot apply, by path, each as ``restart needed: PATH``."""
    out = [f"restart needed: kafka.{name}" for name in type(old.kafka).model_fields
           if getattr(old.kafka, name) != getattr(new.kafka, name)]
    out += [f"restart needed: telemetry.{name}" for name in type(old.telemetry).model_fields
            if name not in _RELOADABLE_TELEMETRY
            and getattr(old.telemetry, name) != getattr(new.telemetry, name)]
    out += [f"restart needed: observe[{i}]" for i in range(max(len(old.observe),
                                                              len(new.observe)))
            if old.observe[i:i + 1] != new.observe[i:i + 1]]  # FR-028: topics subscribed
    return out


@dataclass
class ConfigReloader:
    """Holds the running configuration of one process and replaces it on request."""

    path: Path
    config: Config
    config_hash: str
    telemetry: Telemetry
    #: Each part's ``reconfigure``, in the order they apply a new configuration.
    parts: Sequence[Apply] = ()
    #: What else this process cannot take without a restart, as ``restart_needed`` says it.
    fixed: Callable[[Config], list[str]] = field(default=lambda _config: [])
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def reload(self, trigger: str) -> ReloadResult:
        """Read, validate and apply the file (``trigger`` says who asked, for the log)."""
        async with self._lock:
            try:
                # in a worker thread: the event loop goes on processing while a large file is
                # parsed and validated
                config, digest = await anyio.to_thread.run_sync(read_config, self.path)
            except ConfigError as exc:
                return self._refused("invalid", exc.errors, trigger)
            refused = restart_needed(self.config, config) + self.fixed(config)
            if refused:
                return self._refused("refused", refused, trigger)
            for apply in self.parts:
                await apply(config)
            self.config, self.config_hash, self.loaded_at = config, digest, self.clock()
            self.telemetry.config_reloads.add(1, {"result": "ok"})
            log.info("configuration reloaded (%s) from %s: sha256 %s, %d source entr%s",
                     trigger, self.path, digest[:12], len(config.sources),
                     "y" if len(config.sources) == 1 else "ies")
            capacity = source_capacity(config.sources)
            if capacity > self.telemetry.source_room:
                log.warning("the configuration can now watch %d sources; the per-source "
                            "metrics (dq_series_tracked, dq_series_evicted) were sized at "
                            "start-up for %d and, in the OTLP export, fold any past that into "
                            "one overflow series until a restart (/metrics shows every "
                            "source)", capacity, self.telemetry.source_room)
            return ReloadResult("ok", (), digest, self.loaded_at)

    def _refused(self, result: str, errors: Sequence[str], trigger: str) -> ReloadResult:
        self.telemetry.config_reloads.add(1, {"result": result})
        log.error("configuration reload (%s) refused, the running configuration stays; %d "
                  "error(s) in %s:\n%s", trigger, len(errors), self.path,
                  "\n".join(f"  {e}" for e in errors))
        return ReloadResult(result, tuple(errors), self.config_hash, self.loaded_at)
