"""The input-format plug-in kind: one record's bytes → zero or more observations (FR-022).

An input topic carries one format. A format reads one Kafka record value and returns what it
says about sources, each observation naming its source (the payload decides the source, never
the record key), or raises ``MalformedEvent`` with a reason naming the field. It is pure: no
I/O, no clock, no state, so the fuzz suite and the service call it alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dq_monitor.config import Config
from dq_monitor.events import MetricFields, TableUpdate
from dq_monitor.formats.observation import DatasetObservation

#: What a format yields: a native table update, a metric as its fields (the lean decoder's
#: form), or an observation of a dataset named by pipeline metadata.
Observation = TableUpdate | MetricFields | DatasetObservation


class InputFormat(Protocol):
    """One input format; built once per service from the configuration."""

    #: The format's name, as the registry and the record header of re-homed records know it.
    name: str

    def decode(self, raw: bytes, max_bytes: int) -> Sequence[Observation]:
        """Everything one record value says, each naming its source; raises ``MalformedEvent``
        (reason naming the field) for a record that cannot be read, or one over ``max_bytes``."""
        ...


class FormatFactory(Protocol):
    def __call__(self, config: Config) -> InputFormat: ...


def source_of(observation: Observation) -> str:
    """The source an observation belongs to (its home partition follows from it)."""
    if isinstance(observation, tuple):
        return observation[0]
    return observation.source
