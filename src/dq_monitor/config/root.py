"""The whole configuration file as one model, and its JSON Schema."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import Field

from dq_monitor.config.base import _Model
from dq_monitor.config.channels import ChannelConfig
from dq_monitor.config.kafka import KafkaConfig
from dq_monitor.config.observe import ObserveConfig
from dq_monitor.config.openlineage import OpenLineageConfig
from dq_monitor.config.routing import RoutingConfig
from dq_monitor.config.sources import SourceCatalog, SourceConfig
from dq_monitor.config.telemetry import SchedulerConfig, TelemetryConfig


class Config(_Model):
    """The whole configuration file."""

    kafka: KafkaConfig
    sources: list[SourceConfig] = Field(min_length=1)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    #: FR-022: how OpenLineage datasets are named as sources.
    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)
    #: FR-028: data topics profiled directly, each feeding one source.
    observe: list[ObserveConfig] = Field(default_factory=list)

    @cached_property
    def sources_by_name(self) -> dict[str, SourceConfig]:
        """The entries that name a source (``match`` entries are in ``catalog``)."""
        return {s.name: s for s in self.sources if s.name is not None}

    @cached_property
    def catalog(self) -> SourceCatalog:
        """FR-024: the entry of any source name, named or discovered by a pattern."""
        return SourceCatalog(self.sources)




def config_schema() -> dict[str, Any]:
    """JSON Schema of the configuration file (before ``${VAR}`` expansion, durations as strings)."""
    return Config.model_json_schema(mode="validation", by_alias=True)
