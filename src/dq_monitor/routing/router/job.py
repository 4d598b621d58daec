"""A delivery job, and the records it waits on before its alert's offset may be committed."""

from __future__ import annotations

from asyncio import Future
from dataclasses import dataclass, field
from typing import Any

import anyio
from opentelemetry.context import Context

from dq_monitor.events import Alert
from dq_monitor.routing import dispatch
from dq_monitor.routing.group import GroupSpec

#: A delivery-log or dead-letter record sent but not yet acknowledged: the producer's future
#: and what to write again the careful way if it failed.
Write = tuple["Future[Any] | None", str, bytes | None, bytes | None, int | None]


@dataclass(slots=True)
class Job:
    alert: Alert
    channel: str
    #: The alert partition whose delivery state this job reads and writes.
    partition: int
    repeat: bool
    triggered_at: float | None
    #: Offset of the alert record (``None`` for a reminder, which holds no commit back).
    offset: int | None = None
    #: The alert's trace (from the record's ``traceparent``), parent of the delivery span.
    trace: Context | None = None
    #: FR-018: the mute-window lists of the routes that chose this channel.
    mutes: dispatch.Mutes = ()
    #: Released from a hold: its hold record is tombstoned once this job ended.
    released: bool = False
    #: When the alert was triggered (or the job made), for the channel's delivery age.
    detected: float = 0.0
    #: The job's place in its channel's backlog (``ChannelBacklog.add``).
    token: int = 0
    #: Delivery-log records sent for this job: durable before its offset is committed.
    writes: list[Write] = field(default_factory=list)
    #: FR-027: the channel groups this alert: the job forwards it to its group's notifier.
    group: GroupSpec | None = None


def job_fingerprint(job: Job) -> str:
    """A channel's jobs of one fingerprint are delivered one at a time, in order."""
    return job.alert.fingerprint


def wake_idle(idle: list[anyio.Event], *, everyone: bool = False) -> None:
    """Wake one of a channel's idle workers (a job may be takeable now), or all of them."""
    while idle:
        idle.pop().set()
        if not everyone:
            return
