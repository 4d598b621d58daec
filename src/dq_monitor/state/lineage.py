"""Lineage learned from OpenLineage runs (FR-022, for FR-027): each monitored output dataset
keeps the sources its runs read, with the job and when that edge was last seen.

Kept on the output source's state, so it is checkpointed in the source's changelog record and
restored like all state; any reader of the changelog (the router included) can rebuild the
graph from those records with ``decode``. Bounded: at most ``MAX_UPSTREAM`` inputs per source,
the edge seen longest ago dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dq_monitor.events import format_rfc3339, parse_rfc3339

#: Inputs remembered per output source.
MAX_UPSTREAM = 64


@dataclass(slots=True)
class Edge:
    """One upstream source of a dataset: the job that read it, when last seen."""

    job: str
    last_seen: datetime


def learn(upstream: dict[str, Edge], inputs: tuple[str, ...], job: str, at: datetime) -> bool:
    """Record that ``job`` read ``inputs`` to write the dataset at ``at``; True when the set of
    edges or a job changed (the state must then be checkpointed)."""
    changed = False
    for source in inputs:
        edge = upstream.get(source)
        if edge is None:
            upstream[source] = Edge(job, at)
            changed = True
        else:
            if edge.job != job:
                edge.job, changed = job, True
            if at > edge.last_seen:
                edge.last_seen = at
    while len(upstream) > MAX_UPSTREAM:
        del upstream[min(upstream, key=lambda s: upstream[s].last_seen)]
    return changed


def encode(upstream: dict[str, Edge]) -> list[list[str]]:
    return [[source, e.job, format_rfc3339(e.last_seen)] for source, e in upstream.items()]


def decode(value: object) -> dict[str, Edge]:
    """The checkpointed form back; ``ValueError`` for anything out of shape (NFR-006)."""
    if not isinstance(value, list) or len(value) > MAX_UPSTREAM or not all(
            isinstance(e, list) and len(e) == 3 and all(isinstance(x, str) for x in e)
            for e in value):
        raise ValueError("upstream: out of shape")
    return {source: Edge(job, parse_rfc3339(seen)) for source, job, seen in value}
